package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// requestInfo is what the path, method and query say about a request, in
// the terms authorization uses (k8s.io/apiserver's RequestInfo).
type requestInfo struct {
	resource  bool // a resource request (else a non-resource path)
	verb      string
	group     string
	version   string
	kind      string // resource name, e.g. "certificatesigningrequests"
	namespace string // of /namespaces/NS/RESOURCE…; CSRs have none
	name      string
	// selectorName is the name a list's or watch's fieldSelector pins
	// (metadata.name=NAME); authorization checks resourceNames against
	// it, as kube-apiserver's RequestInfo.Name. The path names nothing.
	selectorName string
	subresource  string
	path         string
	watch        bool
	badPath      bool // more segments than any API path has
}

// parseRequestInfo reads the request's path and method, and for a GET of
// a collection the query parameters that make it a watch and pin it to
// one name.
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
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if ri.name != "" {
			ri.verb = "get"
			break
		}
		// The handlers dispatch on this verb, so that the verb authorized
		// is always the one served.
		q := r.URL.Query()
		decodes := decodesAsListOptions(q)
		ri.verb = "list"
		watch := queryBool(q, "watch")
		if !decodes {
			watch = lowerCaseTrue(q, "watch")
		}
		if watch {
			ri.verb, ri.watch = "watch", true
		}
		if decodes {
			ri.selectorName = listSelectorName(q)
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

// queryBool reads the boolean query parameter key as kube-apiserver does
// (apimachinery's Convert_Slice_string_To_bool): absent is false; else the
// first value is false when it is "0" or "false" in any case, and true
// otherwise, "" (watch=, or a bare watch) included. Every boolean query
// parameter is read through it, so that authorization and the handlers
// never read one parameter two ways.
func queryBool(q url.Values, key string) bool {
	v, ok := queryFirst(q, key)
	return ok && v != "0" && !strings.EqualFold(v, "false")
}

// queryFirst returns the first value of key and whether the query has one:
// kube-apiserver reads only the first of repeated parameters.
func queryFirst(q url.Values, key string) (string, bool) {
	vs := q[key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// lowerCaseTrue is queryBool as kube-apiserver's RequestInfoFactory reads
// watch from a query that does not decode as ListOptions: "0" and
// "false" after strings.ToLower are false. It differs from queryBool only
// for values such as "falſe" that fold to "false" without lowering to
// it, and only for requests that are then refused with 400 anyway; it is
// kept so that such a request is authorized with kube-apiserver's verb,
// and its 403 or 400 is the same.
func lowerCaseTrue(q url.Values, key string) bool {
	v, ok := queryFirst(q, key)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "0", "false":
		return false
	}
	return true
}

// decodesAsListOptions reports whether q decodes as kube-apiserver's
// ListOptions: labelSelector and fieldSelector parse, and limit and
// timeoutSeconds, when present, are integers. The CSR list and watch
// handlers refuse every other query with 400.
func decodesAsListOptions(q url.Values) bool {
	if v, ok := queryFirst(q, "labelSelector"); ok {
		if _, err := labels.Parse(v); err != nil {
			return false
		}
	}
	if v, ok := queryFirst(q, "fieldSelector"); ok {
		if _, err := fields.ParseSelector(v); err != nil {
			return false
		}
	}
	for _, key := range []string{"limit", "timeoutSeconds"} {
		if _, _, err := queryInt64(q, key); err != nil {
			return false
		}
	}
	return true
}

// queryInt64 reads the integer query parameter key as kube-apiserver's
// ListOptions decoding does: absent is unset (ok false); the first value
// must be a decimal int64, "" included, or err is a 400.
func queryInt64(q url.Values, key string) (n int64, ok bool, err error) {
	v, ok := queryFirst(q, key)
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, true, apierrors.NewBadRequest(fmt.Sprintf("invalid %s %q: use an integer", key, v))
	}
	return n, true, nil
}

// listSelectorName returns the object name that the fieldSelector of a
// list or watch q pins, or "" for none, as kube-apiserver's
// RequestInfoFactory sets RequestInfo.Name for these verbs: the value of
// the selector's first metadata.name term with = or == (fields.Selector's
// RequiresExactMatch, which looks through a comma-separated conjunction),
// when the name is a valid path segment. The caller checks that q decodes
// as ListOptions: kube-apiserver sets no name otherwise. A list so
// limited to one name is authorized as a request for that name, so that a
// role with resourceNames may list or watch its object; the handlers
// filter the answer with the whole selector, so that it never holds
// another object.
func listSelectorName(q url.Values) string {
	v, ok := queryFirst(q, "fieldSelector")
	if !ok {
		return ""
	}
	fs, err := fields.ParseSelector(v)
	if err != nil {
		return ""
	}
	name, ok := fs.RequiresExactMatch("metadata.name")
	if !ok || len(content.IsPathSegmentName(name)) > 0 {
		return ""
	}
	return name
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
