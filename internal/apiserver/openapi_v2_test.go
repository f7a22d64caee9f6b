package apiserver_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/discovery"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestOpenAPIV2 checks /openapi/v2 in the forms clients read it: JSON, a
// Swagger 2.0 document whose every $ref resolves in its definitions and
// whose CSR definition carries its GVK; protobuf through client-go's own
// OpenAPISchema(), with the same definitions; the ETag, 406 and gzip.
func TestOpenAPIV2(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)

	res := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil, "Accept", "application/json")
	if res.code != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi/v2 = %d %q %.200s", res.code, res.header.Get("Content-Type"), res.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	defs, _ := doc["definitions"].(map[string]any)
	if doc["swagger"] != "2.0" || len(defs) == 0 {
		t.Fatalf("document: swagger %v, %d definitions; want 2.0 and the CSR types", doc["swagger"], len(defs))
	}
	refs := 0
	walkObjects("", doc, func(path string, v map[string]any) {
		if ref, ok := v["$ref"].(string); ok {
			refs++
			name, found := strings.CutPrefix(ref, "#/definitions/")
			if _, ok := defs[name]; !found || !ok {
				t.Errorf("%s: $ref %q does not resolve to a definition", path, ref)
			}
		}
		if _, ok := v["allOf"]; ok {
			t.Errorf("%s: allOf left from the v3 form: %v", path, v)
		}
	})
	if refs < 10 {
		t.Errorf("found %d $refs, want the CSR types to reference their parts", refs)
	}
	gvk := lookup(defs, csrSchema, "x-kubernetes-group-version-kind")
	if !strings.Contains(string(mustJSON(t, gvk)), `"kind":"CertificateSigningRequest"`) {
		t.Errorf("CSR definition GVK = %v", gvk)
	}
	if ref := lookup(defs, csrSchema, "properties", "spec", "$ref"); ref != "#/definitions/"+specSchema {
		t.Errorf("CSR spec $ref = %v, want %s", ref, specSchema)
	}
	param := lookup(doc, "paths", "/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}", "patch", "parameters")
	if !strings.Contains(string(mustJSON(t, param)), `{"in":"query","name":"fieldValidation","type":"string","uniqueItems":true}`) {
		t.Errorf("PATCH parameters = %s, want fieldValidation with its type in v2 form", mustJSON(t, param))
	}

	// Protobuf, through the client kubectl uses for it.
	dc, err := discovery.NewDiscoveryClientForConfig(srv.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	pb, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("client-go OpenAPISchema: %v", err)
	}
	names := map[string]bool{}
	for _, p := range pb.GetDefinitions().GetAdditionalProperties() {
		names[p.GetName()] = true
	}
	if len(names) != len(defs) || !names[csrSchema] || !names[conditionSchema] {
		t.Errorf("protobuf document has %d definitions (CSR %v), JSON %d", len(names), names[csrSchema], len(defs))
	}

	// The ETag answers a repeated request with 304; the two forms differ.
	etag := res.header.Get("Etag")
	if again := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil, "Accept", "application/json", "If-None-Match", etag); etag == "" || again.code != http.StatusNotModified {
		t.Errorf("If-None-Match %s = %d, want 304", etag, again.code)
	}
	proto := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil, "Accept", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
	if proto.code != http.StatusOK || proto.header.Get("Etag") == etag ||
		proto.header.Get("Content-Type") != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Errorf("protobuf form = %d %q, ETag %q (JSON's %q)", proto.code, proto.header.Get("Content-Type"), proto.header.Get("Etag"), etag)
	}
	if bad := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil, "Accept", "text/plain"); bad.code != http.StatusNotAcceptable {
		t.Errorf("Accept text/plain = %d, want 406", bad.code)
	}

	gz := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil, "Accept", "application/json", "Accept-Encoding", "gzip")
	if gz.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", gz.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, res.body) {
		t.Errorf("gzip form decodes to %d bytes (%v), want the %d of the JSON form", len(plain), err, len(res.body))
	}

	if anon := do(t, httpClient(t, srv, ""), "GET", srv.URL+"/openapi/v2", "", nil); anon.code != http.StatusUnauthorized && anon.code != http.StatusForbidden {
		t.Errorf("anonymous /openapi/v2 = %d, want 401 or 403", anon.code)
	}
}
