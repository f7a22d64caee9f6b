package apiserver

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
)

// The protobuf form of /openapi/v2 has two media subtypes: the old one,
// which client-go's OpenAPISchema() still sends (kubectl explain --output
// plaintext-openapiv2 calls it), and the one kube-apiserver answers with,
// which is a valid media type where the old one is not.
const (
	openAPIV2ProtoSubtype    = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	openAPIV2ProtoSubtypeOld = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
)

// openAPIV2 is the /openapi/v2 document in both forms kube-apiserver
// serves it: JSON, and gnostic's protobuf encoding.
type openAPIV2 struct {
	json, proto []byte
	hash        string
}

// buildOpenAPIV2 makes the single Swagger 2.0 document of every group in
// openAPIGroups out of their v3 documents, so that the two versions never
// disagree. It parses the JSON back with gnostic, which both checks it is
// a valid v2 document and gives the protobuf form.
func buildOpenAPIV2() (openAPIV2, error) {
	paths := map[string]any{}
	definitions := map[string]any{}
	for _, gv := range openAPIGroups {
		doc := openAPIDocument(gv)
		for p, item := range doc["paths"].(map[string]any) {
			paths[p] = v2PathItem(item.(map[string]any))
		}
		if c, ok := doc["components"].(map[string]any); ok {
			for name, s := range c["schemas"].(map[string]any) {
				definitions[name] = v2Schema(s.(map[string]any))
			}
		}
	}
	body, err := json.Marshal(map[string]any{
		"swagger":     "2.0",
		"info":        map[string]any{"title": "Kubernetes", "version": APIGitVersion},
		"paths":       paths,
		"definitions": definitions,
	})
	if err != nil {
		return openAPIV2{}, fmt.Errorf("marshal OpenAPI v2 document: %w", err)
	}
	parsed, err := openapiv2.ParseDocument(body)
	if err != nil {
		return openAPIV2{}, fmt.Errorf("OpenAPI v2 document: %w", err)
	}
	pb, err := proto.Marshal(parsed)
	if err != nil {
		return openAPIV2{}, fmt.Errorf("OpenAPI v2 document as protobuf: %w", err)
	}
	return openAPIV2{json: body, proto: pb, hash: docHash(body)}, nil
}

// v2PathItem converts a v3 path item: its operations' parameters carry
// their type themselves instead of in a schema, and each operation says
// what it consumes and produces.
func v2PathItem(item map[string]any) map[string]any {
	out := make(map[string]any, len(item))
	for key, v := range item {
		if key == "parameters" {
			out[key] = v2Parameters(v.([]any))
			continue
		}
		op := map[string]any{}
		for k, ov := range v.(map[string]any) {
			op[k] = ov
		}
		if params, ok := op["parameters"].([]any); ok {
			op["parameters"] = v2Parameters(params)
		} else {
			delete(op, "parameters") // nil in the v3 document: no parameters
		}
		op["consumes"] = []any{"*/*"}
		op["produces"] = []any{mediaJSON, mediaYAML, mediaProtobuf}
		op["schemes"] = []any{"https"}
		out[key] = op
	}
	return out
}

func v2Parameters(params []any) []any {
	out := make([]any, len(params))
	for i, p := range params {
		q := map[string]any{}
		for k, v := range p.(map[string]any) {
			if k == "schema" {
				for sk, sv := range v.(map[string]any) {
					q[sk] = sv
				}
				continue
			}
			q[k] = v
		}
		out[i] = q
	}
	return out
}

// v2Schema converts a v3 schema: references point into definitions, and a
// reference wrapped in a one-element allOf (v3 ignores a $ref's siblings)
// becomes a plain $ref beside its description, as kube-apiserver's v2
// document writes it.
func v2Schema(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		switch k {
		case "$ref":
			out[k] = "#/definitions/" + strings.TrimPrefix(v.(string), schemaRefPrefix)
		case "allOf":
			all := v.([]any)
			if len(all) == 1 {
				for rk, rv := range v2Schema(all[0].(map[string]any)) {
					out[rk] = rv
				}
				continue
			}
			conv := make([]any, len(all))
			for i, a := range all {
				conv[i] = v2Schema(a.(map[string]any))
			}
			out[k] = conv
		case "items", "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = v2Schema(m)
			} else {
				out[k] = v
			}
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = v2Schema(p.(map[string]any))
			}
			out[k] = props
		default:
			out[k] = v
		}
	}
	return out
}

// serveOpenAPIV2 answers /openapi/v2 as kube-openapi's handler does:
// protobuf for the media types client-go asks for, JSON for
// application/json and wildcards, 406 for anything else; an ETag checked
// against If-None-Match; gzip when the client accepts it, as kube-openapi does
// for anything above 1,400 bytes (the JSON form is about 40 kB).
func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	doc, err := s.openAPIV2()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	var body []byte
	var media string
	for _, c := range goautoneg.ParseAccept(accept) {
		if c.Q <= 0 || (c.Type != "application" && c.Type != "*") {
			continue
		}
		switch c.SubType {
		case "json", "*":
			body, media = doc.json, mediaJSON
		case openAPIV2ProtoSubtype, openAPIV2ProtoSubtypeOld:
			body, media = doc.proto, "application/"+openAPIV2ProtoSubtype
		}
		if body != nil {
			break
		}
	}
	w.Header().Add("Vary", "Accept")
	if body == nil {
		s.writeError(w, r, fmt.Errorf("%w: %q: /openapi/v2 is served as application/json and application/%s",
			errNotAcceptable, accept, openAPIV2ProtoSubtype))
		return
	}
	etag := `"` + doc.hash + "-" + media[len("application/"):] + `"`
	w.Header().Set("Etag", etag)
	w.Header().Set("Cache-Control", "no-cache, private")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", media)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !acceptsGzip(r) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	w.WriteHeader(http.StatusOK)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, _ = zw.Write(body)
	_ = zw.Close()
}
