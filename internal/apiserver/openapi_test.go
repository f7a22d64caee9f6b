package apiserver_test

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

const (
	csrSchema       = "io.k8s.api.certificates.v1.CertificateSigningRequest"
	csrListSchema   = "io.k8s.api.certificates.v1.CertificateSigningRequestList"
	specSchema      = "io.k8s.api.certificates.v1.CertificateSigningRequestSpec"
	statusSchema    = "io.k8s.api.certificates.v1.CertificateSigningRequestStatus"
	conditionSchema = "io.k8s.api.certificates.v1.CertificateSigningRequestCondition"
	metaPrefix      = "io.k8s.apimachinery.pkg.apis.meta.v1."
	refPrefix       = "#/components/schemas/"
)

// certificatesOpenAPI fetches the certificates.k8s.io/v1 document the way
// kubectl does: the /openapi/v3 index, then its serverRelativeURL. It
// returns the decoded document and the response.
func certificatesOpenAPI(t *testing.T, srv *apiservertest.Server) (map[string]any, httpResult, string) {
	t.Helper()
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, admin, "GET", srv.URL+"/openapi/v3", "", nil)
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &root); err != nil {
		t.Fatalf("decode /openapi/v3: %v", err)
	}
	u := root.Paths["apis/certificates.k8s.io/v1"].ServerRelativeURL
	if u == "" {
		t.Fatalf("/openapi/v3 = %s, want the certificates group", res.body)
	}
	res = do(t, admin, "GET", srv.URL+u, "", nil)
	if res.code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", u, res.code, res.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatalf("decode %s: %v", u, err)
	}
	return doc, res, u
}

// lookup follows keys through nested JSON objects; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// walkObjects calls visit on every JSON object in v, depth first, with
// its path from the root ("/" for a member, "[]" for an array element).
func walkObjects(path string, v any, visit func(path string, obj map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(path, v)
		for k, e := range v {
			walkObjects(path+"/"+k, e, visit)
		}
	case []any:
		for _, e := range v {
			walkObjects(path+"[]", e, visit)
		}
	}
}

func TestOpenAPISchemaShapes(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	doc, _, _ := certificatesOpenAPI(t, srv)
	schemas := lookup(doc, "components", "schemas")
	props := func(schema, field string) []string {
		return []string{schema, "properties", field}
	}
	tests := []struct {
		name string
		path []string
		want string // JSON
	}{
		{"CSR kind", []string{csrSchema, "x-kubernetes-group-version-kind"},
			`[{"group":"certificates.k8s.io","version":"v1","kind":"CertificateSigningRequest"}]`},
		{"list kind", []string{csrListSchema, "x-kubernetes-group-version-kind"},
			`[{"group":"certificates.k8s.io","version":"v1","kind":"CertificateSigningRequestList"}]`},
		{"CSR required", []string{csrSchema, "required"}, `["spec"]`},
		{"list required", []string{csrListSchema, "required"}, `["items"]`},
		{"spec required", []string{specSchema, "required"}, `["request","signerName"]`},
		{"condition required", []string{conditionSchema, "required"}, `["type","status"]`},
		{"owner reference required", []string{metaPrefix + "OwnerReference", "required"}, `["apiVersion","kind","name","uid"]`},
		{"status not required", []string{statusSchema, "required"}, `null`},
		{"metadata", props(csrSchema, "metadata"),
			`{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],"default":{}}`},
		{"spec wraps its $ref in allOf", props(csrSchema, "spec"),
			`{"allOf":[{"$ref":"#/components/schemas/` + specSchema + `"}],"default":{},"description":` +
				quote(t, certv1.CertificateSigningRequest{}.SwaggerDoc()["spec"]) + `}`},
		{"list items", props(csrListSchema, "items"),
			`{"type":"array","items":{"allOf":[{"$ref":"#/components/schemas/` + csrSchema + `"}],"default":{}},"description":` +
				quote(t, certv1.CertificateSigningRequestList{}.SwaggerDoc()["items"]) + `}`},
		{"request is base64", props(specSchema, "request"), `{"type":"string","format":"byte","x-kubernetes-list-type":"atomic","description":` +
			quote(t, certv1.CertificateSigningRequestSpec{}.SwaggerDoc()["request"]) + `}`},
		{"certificate is base64", append(props(statusSchema, "certificate"), "format"), `"byte"`},
		{"expirationSeconds", append(props(specSchema, "expirationSeconds"), "format"), `"int32"`},
		{"expirationSeconds type", append(props(specSchema, "expirationSeconds"), "type"), `"integer"`},
		{"signerName defaults", append(props(specSchema, "signerName"), "default"), `""`},
		{"usages atomic", append(props(specSchema, "usages"), "x-kubernetes-list-type"), `"atomic"`},
		{"usages items", append(props(specSchema, "usages"), "items"), `{"type":"string","default":""}`},
		{"groups atomic", append(props(specSchema, "groups"), "x-kubernetes-list-type"), `"atomic"`},
		{"extra", append(props(specSchema, "extra"), "additionalProperties"),
			`{"type":"array","items":{"type":"string","default":""}}`},
		{"conditions map", append(props(statusSchema, "conditions"), "x-kubernetes-list-type"), `"map"`},
		{"conditions keys", append(props(statusSchema, "conditions"), "x-kubernetes-list-map-keys"), `["type"]`},
		{"condition time", props(conditionSchema, "lastUpdateTime"),
			`{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"}],"default":{},"description":` +
				quote(t, certv1.CertificateSigningRequestCondition{}.SwaggerDoc()["lastUpdateTime"]) + `}`},
		{"Time", []string{metaPrefix + "Time"}, `{"type":"string","format":"date-time"}`},
		{"FieldsV1", []string{metaPrefix + "FieldsV1"}, `{"type":"object","description":` +
			quote(t, metav1.FieldsV1{}.SwaggerDoc()[""]) + `}`},
		{"deletionTimestamp has no default", append(props(metaPrefix+"ObjectMeta", "deletionTimestamp"), "default"), `null`},
		{"finalizers", append(props(metaPrefix+"ObjectMeta", "finalizers"), "x-kubernetes-list-type"), `"set"`},
		{"ownerReferences merge key", append(props(metaPrefix+"ObjectMeta", "ownerReferences"), "x-kubernetes-patch-merge-key"), `"uid"`},
		{"ownerReferences keys", append(props(metaPrefix+"ObjectMeta", "ownerReferences"), "x-kubernetes-list-map-keys"), `["uid"]`},
		{"managedFields atomic", append(props(metaPrefix+"ObjectMeta", "managedFields"), "x-kubernetes-list-type"), `"atomic"`},
		{"owner reference atomic", []string{metaPrefix + "OwnerReference", "x-kubernetes-map-type"}, `"atomic"`},
		{"generation", props(metaPrefix+"ObjectMeta", "generation"), `{"type":"integer","format":"int64","description":` +
			quote(t, metav1.ObjectMeta{}.SwaggerDoc()["generation"]) + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var want any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatalf("bad want %s: %v", tc.want, err)
			}
			got := lookup(schemas, tc.path...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("components.schemas %s (-want +got):\n%s", strings.Join(tc.path, "."), diff)
			}
		})
	}
}

func quote(t *testing.T, s string) string {
	t.Helper()
	return string(mustJSON(t, s))
}

// TestOpenAPISchemaComplete checks the document against the Go types it
// describes: every $ref resolves, no $ref has siblings (OpenAPI 3.0 would
// ignore them), and every JSON field of every struct reachable from the
// CSR kinds is a property with its SwaggerDoc description, and nothing
// else is.
func TestOpenAPISchemaComplete(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	doc, _, _ := certificatesOpenAPI(t, srv)
	schemas, _ := lookup(doc, "components", "schemas").(map[string]any)
	if len(schemas) == 0 {
		t.Fatal("the document has no components.schemas")
	}

	refs := 0
	walkObjects("", doc, func(path string, v map[string]any) {
		ref, ok := v["$ref"].(string)
		if !ok {
			return
		}
		refs++
		if _, found := schemas[strings.TrimPrefix(ref, refPrefix)]; !strings.HasPrefix(ref, refPrefix) || !found {
			t.Errorf("%s: $ref %q does not resolve to a component schema", path, ref)
		}
		if len(v) != 1 {
			t.Errorf("%s: $ref %q has siblings %v; want them around an allOf", path, ref, v)
		}
	})
	if refs < 10 {
		t.Errorf("found %d $refs, want the CSR types to reference their parts", refs)
	}

	seen := map[reflect.Type]bool{}
	var check func(typ reflect.Type)
	check = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		name := componentName(t, typ)
		s, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("no component schema %s for %v", name, typ)
			return
		}
		if reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]()) {
			return // it says its own JSON form (metav1.Time, metav1.FieldsV1)
		}
		props, _ := s["properties"].(map[string]any)
		fields := map[string]string{}
		jsonFields(typ, fields, check)
		for field, desc := range fields {
			p, ok := props[field].(map[string]any)
			if !ok {
				t.Errorf("%s: field %q of %v is missing", name, field, typ)
				continue
			}
			if got, _ := p["description"].(string); got != desc {
				t.Errorf("%s.%s description = %q, want the SwaggerDoc %q", name, field, got, desc)
			}
		}
		for field := range props {
			if _, ok := fields[field]; !ok {
				t.Errorf("%s: property %q is not a field of %v", name, field, typ)
			}
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[certv1.CertificateSigningRequest](), reflect.TypeFor[certv1.CertificateSigningRequestList]()} {
		check(typ)
	}
	for name := range schemas {
		found := false
		for typ := range seen {
			found = found || componentName(t, typ) == name
		}
		if !found {
			t.Errorf("component %s describes no type the CSR kinds reach", name)
		}
	}
	for _, want := range []string{csrSchema, csrListSchema, specSchema, statusSchema, conditionSchema,
		metaPrefix + "ObjectMeta", metaPrefix + "ListMeta", metaPrefix + "Time", metaPrefix + "ManagedFieldsEntry",
		metaPrefix + "OwnerReference", metaPrefix + "FieldsV1"} {
		if _, ok := schemas[want]; !ok {
			t.Errorf("components.schemas lacks %s", want)
		}
	}
}

// jsonFields records in fields the JSON name and SwaggerDoc description of
// each field of struct type typ, inlining embedded structs, and calls
// visit with each field's type.
func jsonFields(typ reflect.Type, fields map[string]string, visit func(reflect.Type)) {
	var doc map[string]string
	if d, ok := reflect.Zero(typ).Interface().(interface{ SwaggerDoc() map[string]string }); ok {
		doc = d.SwaggerDoc()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			jsonFields(f.Type, fields, visit)
			continue
		}
		fields[name] = doc[name]
		visit(f.Type)
	}
}

// componentName is kube-apiserver's schema name for the two packages the
// CSR types live in.
func componentName(t *testing.T, typ reflect.Type) string {
	t.Helper()
	switch typ.PkgPath() {
	case "k8s.io/api/certificates/v1":
		return "io.k8s.api.certificates.v1." + typ.Name()
	case "k8s.io/apimachinery/pkg/apis/meta/v1":
		return metaPrefix + typ.Name()
	}
	t.Fatalf("unexpected package of %v", typ)
	return ""
}

// TestOpenAPIHashIsContent checks that the index names the document by a
// hash of its bytes (so the URL changes whenever the document does), that
// the hashed URL is cacheable for good and that the hash is the ETag.
func TestOpenAPIHashIsContent(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	_, res, u := certificatesOpenAPI(t, srv)
	_, hash, ok := strings.Cut(u, "?hash=")
	if !ok {
		t.Fatalf("serverRelativeURL %q has no hash", u)
	}
	sum := sha512.Sum512(res.body)
	if want := strings.ToUpper(hex.EncodeToString(sum[:16])); hash != want {
		t.Errorf("index hash = %s, want %s (SHA-512 of the served document)", hash, want)
	}
	if got := res.header.Get("Etag"); got != `"`+hash+`"` {
		t.Errorf("Etag = %s, want %q", got, hash)
	}
	if got := res.header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("hashed URL Cache-Control = %q, want immutable", got)
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	stale := do(t, admin, "GET", srv.URL+"/openapi/v3/apis/certificates.k8s.io/v1?hash=0123ABCD", "", nil)
	if got := stale.header.Get("Cache-Control"); got != "no-cache, private" {
		t.Errorf("stale hash Cache-Control = %q, want no-cache, private", got)
	}
	if string(stale.body) != string(res.body) {
		t.Error("the document differs between two requests")
	}
}
