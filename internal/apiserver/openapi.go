package apiserver

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// openAPIGroups are the group-version documents served under /openapi/v3.
var openAPIGroups = map[string]schema.GroupVersion{
	"apis/" + certGV.String():  certGV,
	"apis/" + authnGV.String(): authnGV,
	"apis/" + authzGV.String(): authzGV,
}

// openAPIDocument builds the OpenAPI v3 document for gv: its paths and
// operations with the query parameters kubectl looks for (fieldValidation
// on PATCH makes kubectl create/apply validate on the server), and the
// schemas of its kinds (kubectl explain reads them).
func openAPIDocument(gv schema.GroupVersion) map[string]any {
	gvk := func(kind string) map[string]any {
		return map[string]any{"group": gv.Group, "version": gv.Version, "kind": kind}
	}
	param := func(name string) map[string]any {
		return map[string]any{"name": name, "in": "query", "schema": map[string]any{"type": "string"}, "uniqueItems": true}
	}
	writeParams := []any{param("dryRun"), param("fieldManager"), param("fieldValidation")}
	ok := map[string]any{"200": map[string]any{"description": "OK"}}
	created := map[string]any{"200": map[string]any{"description": "OK"}, "201": map[string]any{"description": "Created"}}
	paths := map[string]any{}
	opID := func(verb, kind string) string {
		g := strings.ToUpper(gv.Group[:1]) + strings.Split(gv.Group, ".")[0][1:]
		return verb + g + strings.ToUpper(gv.Version[:1]) + gv.Version[1:] + kind
	}
	for _, r := range servedResources {
		if r.gv != gv {
			continue
		}
		base := "/apis/" + gv.String() + "/" + r.resource
		op := func(verb, action string, params []any, responses map[string]any) map[string]any {
			return map[string]any{
				"operationId": opID(verb, r.kind), "x-kubernetes-action": action,
				"x-kubernetes-group-version-kind": gvk(r.kind), "parameters": params, "responses": responses,
			}
		}
		if len(r.verbs) == 1 { // the reviews: create only
			paths[base] = map[string]any{"post": op("create", "post", writeParams, created)}
			continue
		}
		listParams := []any{param("labelSelector"), param("fieldSelector"), param("limit"), param("continue"),
			param("resourceVersion"), param("resourceVersionMatch"), param("timeoutSeconds"), param("watch"),
			param("allowWatchBookmarks"), param("sendInitialEvents")}
		paths[base] = map[string]any{
			"get":    op("list", "list", listParams, ok),
			"post":   op("create", "post", writeParams, created),
			"delete": op("deletecollection", "deletecollection", append([]any{param("dryRun")}, listParams...), ok),
		}
		item := map[string]any{
			"get":    op("read", "get", nil, ok),
			"put":    op("replace", "put", writeParams, created),
			"patch":  op("patch", "patch", append(writeParams, param("force")), created),
			"delete": op("delete", "delete", []any{param("dryRun")}, ok),
		}
		item["parameters"] = []any{map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}}
		paths[base+"/{name}"] = item
		for _, sub := range r.subresources {
			suffix := strings.ToUpper(sub[:1]) + sub[1:]
			paths[base+"/{name}/"+sub] = map[string]any{
				"get":   op("read", "get", nil, ok),
				"put":   op("replace"+suffix+"_", "put", writeParams, created),
				"patch": op("patch"+suffix+"_", "patch", append(writeParams, param("force")), created),
				"parameters": []any{map[string]any{"name": "name", "in": "path", "required": true,
					"schema": map[string]any{"type": "string"}}},
			}
		}
	}
	doc := map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]any{"title": "Kubernetes", "version": APIGitVersion},
		"paths":   paths,
	}
	if schemas := openAPISchemas(gv); schemas != nil {
		doc["components"] = map[string]any{"schemas": schemas}
	}
	return doc
}

// openAPIDoc is one group-version document as served, with the hash of
// its bytes that the /openapi/v3 index puts in its serverRelativeURL.
type openAPIDoc struct {
	body []byte
	hash string
}

// buildOpenAPIDocs marshals the document of every group in openAPIGroups.
// The documents never change while the process runs, so a Server builds
// them once, on first use.
func buildOpenAPIDocs() (map[string]openAPIDoc, error) {
	docs := make(map[string]openAPIDoc, len(openAPIGroups))
	for key, gv := range openAPIGroups {
		body, err := json.Marshal(openAPIDocument(gv))
		if err != nil {
			return nil, fmt.Errorf("marshal OpenAPI document %s: %w", key, err)
		}
		docs[key] = openAPIDoc{body: body, hash: docHash(body)}
	}
	return docs, nil
}

// docHash is the hash of a document's bytes, so that the index's
// serverRelativeURL changes whenever the document does and clients may
// cache a hashed URL for good.
func docHash(doc []byte) string {
	sum := sha512.Sum512(doc)
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

func (s *Server) serveOpenAPIRoot(w http.ResponseWriter, r *http.Request) {
	docs, err := s.openAPIDocs()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	paths := map[string]any{}
	for key, doc := range docs {
		paths[key] = map[string]any{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + doc.hash}
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	s.writeJSON(w, r, http.StatusOK, map[string]any{"paths": paths})
}

func (s *Server) serveOpenAPIGroup(w http.ResponseWriter, r *http.Request, key string) {
	docs, err := s.openAPIDocs()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, ok := docs[key]
	if !ok {
		s.writeError(w, r, errNoSuchPath())
		return
	}
	hash := doc.hash
	if r.URL.Query().Get("hash") == hash {
		w.Header().Set("Cache-Control", "public, immutable, max-age=31536000")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	w.Header().Set("Etag", `"`+hash+`"`)
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc.body)
}
