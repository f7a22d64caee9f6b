package apiserver

import (
	"net/http"
	"slices"
	"strings"
)

// requestInfo is what the path and method say about a request, in the
// terms authorization uses (k8s.io/apiserver's RequestInfo).
type requestInfo struct {
	resource    bool // a resource request (else a non-resource path)
	verb        string
	group       string
	version     string
	kind        string // resource name, e.g. "certificatesigningrequests"
	namespace   string // of /namespaces/NS/RESOURCE…; CSRs have none
	name        string
	subresource string
	path        string
	watch       bool
	badPath     bool // more segments than any API path has
}

// parseRequestInfo reads the request's path and method.
func parseRequestInfo(r *http.Request) requestInfo {
	path := r.URL.Path
	ri := requestInfo{path: path, verb: strings.ToLower(r.Method)}
	var rest []string
	switch {
	case strings.HasPrefix(path, "/apis/"):
		parts := splitPath(strings.TrimPrefix(path, "/apis/"))
		if len(parts) < 3 {
			return ri
		}
		ri.group, ri.version, rest = parts[0], parts[1], parts[2:]
	case strings.HasPrefix(path, "/api/"):
		parts := splitPath(strings.TrimPrefix(path, "/api/"))
		if len(parts) < 2 {
			return ri
		}
		ri.version, rest = parts[0], parts[1:]
	default:
		return ri
	}
	if slices.Contains(rest, "") {
		// An empty segment (a//b) names nothing, not a cluster-wide
		// list: /namespaces//events is no path.
		ri.badPath = true
		return ri
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		// A namespaced resource, as kube-apiserver reads the path:
		// /namespaces/NS alone is the namespace object itself.
		ri.namespace, rest = rest[1], rest[2:]
	}
	if len(rest) > 3 {
		ri.badPath = true
		return ri
	}
	ri.resource = true
	ri.kind = rest[0]
	if len(rest) > 1 {
		ri.name = rest[1]
	}
	if len(rest) > 2 {
		ri.subresource = rest[2]
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case ri.name != "":
			ri.verb = "get"
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			ri.verb, ri.watch = "watch", true
		default:
			ri.verb = "list"
		}
	case http.MethodPost:
		ri.verb = "create"
	case http.MethodPut:
		ri.verb = "update"
	case http.MethodPatch:
		ri.verb = "patch"
	case http.MethodDelete:
		if ri.name == "" {
			ri.verb = "deletecollection"
		} else {
			ri.verb = "delete"
		}
	}
	return ri
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// isPublicPath: the paths served to anonymous clients without
// authorization, exactly those of Kubernetes' system:public-info-viewer
// role. A single check such as /readyz/store is not among them: it needs
// RBAC (system:monitoring), as on kube-apiserver.
func isPublicPath(path string) bool {
	switch path {
	case "/healthz", "/livez", "/readyz", "/version", "/version/":
		return true
	}
	return false
}
