package apiserver

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// schemaRefPrefix is where an OpenAPI v3 document keeps its named schemas.
const schemaRefPrefix = "#/components/schemas/"

// openAPIKinds are the top-level kinds whose schemas each group-version
// document carries in components.schemas, with every type they reference.
var openAPIKinds = map[schema.GroupVersion]map[string]reflect.Type{
	certGV: {
		"CertificateSigningRequest":     reflect.TypeFor[certv1.CertificateSigningRequest](),
		"CertificateSigningRequestList": reflect.TypeFor[certv1.CertificateSigningRequestList](),
	},
}

// fieldMarkers are the schema extensions that the Go types declare only in
// comment markers (+listType, +listMapKey), which reflection cannot read.
// They are keyed by struct type, then by JSON field name, and follow the
// markers of k8s.io/api/certificates/v1 and k8s.io/apimachinery meta/v1.
var fieldMarkers = map[reflect.Type]map[string]map[string]any{
	reflect.TypeFor[certv1.CertificateSigningRequestSpec](): {
		"usages": {"x-kubernetes-list-type": "atomic"},
		"groups": {"x-kubernetes-list-type": "atomic"},
	},
	reflect.TypeFor[certv1.CertificateSigningRequestStatus](): {
		"conditions": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": []any{"type"}},
	},
	reflect.TypeFor[metav1.ObjectMeta](): {
		"finalizers":      {"x-kubernetes-list-type": "set"},
		"ownerReferences": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": []any{"uid"}},
		"managedFields":   {"x-kubernetes-list-type": "atomic"},
	},
}

// typeMarkers are the type-level extensions declared by +structType markers.
var typeMarkers = map[reflect.Type]map[string]any{
	reflect.TypeFor[metav1.OwnerReference](): {"x-kubernetes-map-type": "atomic"},
}

// openAPISchemas returns the components.schemas of gv's document: a
// schema for each kind in openAPIKinds and for every named struct type
// reachable from it, named as kube-apiserver names them
// (io.k8s.api.certificates.v1.CertificateSigningRequest). It returns nil
// for a group-version without kinds there.
func openAPISchemas(gv schema.GroupVersion) map[string]any {
	kinds := openAPIKinds[gv]
	if len(kinds) == 0 {
		return nil
	}
	b := &schemaBuilder{schemas: map[string]any{}, kinds: map[reflect.Type]schema.GroupVersionKind{}}
	for kind, t := range kinds {
		b.kinds[t] = gv.WithKind(kind)
	}
	for _, t := range kinds {
		b.named(t)
	}
	return b.schemas
}

// schemaBuilder derives OpenAPI v3 schemas from Go API types by reflection:
// JSON names, omitempty and the patch tags from the struct tags,
// descriptions from the types' SwaggerDoc methods, types and formats from
// the Go kinds (or from OpenAPISchemaType and OpenAPISchemaFormat, as
// metav1.Time declares them). It follows kube-openapi's conventions: a
// field without omitempty is required, a non-pointer struct defaults to
// {} and a non-omitempty scalar to its zero value, []byte is a base64
// string, and a $ref with sibling keys is wrapped in a one-element allOf
// (OpenAPI 3.0 ignores a $ref's siblings).
type schemaBuilder struct {
	schemas map[string]any
	kinds   map[reflect.Type]schema.GroupVersionKind
}

// openAPISchemaTyper is implemented by types that serialise as a JSON
// scalar and say which (metav1.Time: a date-time string).
type openAPISchemaTyper interface {
	OpenAPISchemaType() []string
	OpenAPISchemaFormat() string
}

var (
	marshalerType = reflect.TypeFor[json.Marshaler]()
	typerType     = reflect.TypeFor[openAPISchemaTyper]()
)

// schemaName is the component name of the named type t: the package path
// with its host reversed (k8s.io/api/certificates/v1 becomes
// io.k8s.api.certificates.v1), a dot, and the type name.
func schemaName(t reflect.Type) string {
	host, path, _ := strings.Cut(t.PkgPath(), "/")
	labels := strings.Split(host, ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "." + strings.ReplaceAll(path, "/", ".") + "." + t.Name()
}

// swaggerDoc returns t's SwaggerDoc map: "" describes the type, every other
// key the field of that JSON name. It is nil when t has no such method.
func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := reflect.Zero(t).Interface().(interface{ SwaggerDoc() map[string]string }); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// named adds the schema of the named struct type t to b.schemas, with the
// schemas of the types it references, and returns its $ref.
func (b *schemaBuilder) named(t reflect.Type) string {
	name := schemaName(t)
	ref := schemaRefPrefix + name
	if _, ok := b.schemas[name]; ok {
		return ref
	}
	s := map[string]any{}
	b.schemas[name] = s // before the fields, so that a cycle ends here
	if d := swaggerDoc(t)[""]; d != "" {
		s["description"] = d
	}
	switch {
	case reflect.PointerTo(t).Implements(typerType):
		v := reflect.New(t).Interface().(openAPISchemaTyper)
		s["type"] = v.OpenAPISchemaType()[0]
		if f := v.OpenAPISchemaFormat(); f != "" {
			s["format"] = f
		}
		return ref
	case reflect.PointerTo(t).Implements(marshalerType):
		// Its own MarshalJSON decides the shape (metav1.FieldsV1, a trie
		// of field paths); all a schema can say is that it is an object.
		s["type"] = "object"
		return ref
	}
	s["type"] = "object"
	props := map[string]any{}
	var required []any
	b.fields(t, props, &required)
	s["properties"] = props
	if len(required) > 0 {
		s["required"] = required
	}
	if gvk, ok := b.kinds[t]; ok {
		s["x-kubernetes-group-version-kind"] = []any{
			map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind},
		}
	}
	for k, v := range typeMarkers[t] {
		s[k] = v
	}
	return ref
}

// fields adds the JSON fields of struct type t to props, inlining
// embedded structs (metav1.TypeMeta), and appends to required the names of
// fields without omitempty.
func (b *schemaBuilder) fields(t reflect.Type, props map[string]any, required *[]any) {
	doc := swaggerDoc(t)
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			b.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		omitEmpty := slices.Contains(strings.Split(opts, ","), "omitempty")
		s := b.value(f.Type, omitEmpty)
		if d := doc[name]; d != "" {
			s["description"] = d
		}
		if v := f.Tag.Get("patchStrategy"); v != "" {
			s["x-kubernetes-patch-strategy"] = v
		}
		if v := f.Tag.Get("patchMergeKey"); v != "" {
			s["x-kubernetes-patch-merge-key"] = v
		}
		for k, v := range fieldMarkers[t][name] {
			s[k] = v
		}
		props[name] = wrapRef(s)
		if !omitEmpty {
			*required = append(*required, name)
		}
	}
}

// value returns the schema of a value of type t: a field (omitEmpty as
// its tag says), a list item or a map value (omitEmpty false).
func (b *schemaBuilder) value(t reflect.Type, omitEmpty bool) map[string]any {
	scalar := func(typ, format string, zero any) map[string]any {
		s := map[string]any{"type": typ}
		if format != "" {
			s["format"] = format
		}
		if !omitEmpty {
			s["default"] = zero
		}
		return s
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := b.value(t.Elem(), true)
		delete(s, "default") // nil is the default of a pointer
		return s
	case reflect.Struct:
		return map[string]any{"$ref": b.named(t), "default": map[string]any{}}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			// encoding/json writes []byte as base64; it is replaced whole.
			return map[string]any{"type": "string", "format": "byte", "x-kubernetes-list-type": "atomic"}
		}
		return map[string]any{"type": "array", "items": wrapRef(b.value(t.Elem(), false))}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic(fmt.Sprintf("apiserver: no OpenAPI schema for map key type %v", t.Key()))
		}
		return map[string]any{"type": "object", "additionalProperties": wrapRef(b.value(t.Elem(), false))}
	case reflect.String:
		return scalar("string", "", "")
	case reflect.Bool:
		return scalar("boolean", "", false)
	case reflect.Int32:
		return scalar("integer", "int32", 0)
	case reflect.Int64:
		return scalar("integer", "int64", 0)
	case reflect.Float64:
		return scalar("number", "double", 0)
	}
	panic(fmt.Sprintf("apiserver: no OpenAPI schema for Go type %v", t))
}

// wrapRef moves a $ref that has sibling keys (description, default,
// extensions) into a one-element allOf, as kube-apiserver's v3 documents
// do: in OpenAPI 3.0 the siblings of a $ref are ignored.
func wrapRef(s map[string]any) map[string]any {
	ref, ok := s["$ref"]
	if !ok || len(s) == 1 {
		return s
	}
	delete(s, "$ref")
	s["allOf"] = []any{map[string]any{"$ref": ref}}
	return s
}
