package apiserver

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// The Kubernetes API level the server implements, reported by /version:
// the kubectl version dispatcher runs the kubectl matching Minor.
const (
	APIMajor      = "1"
	APIMinor      = "32"
	APIGitVersion = "v1.32.0"
)

// servedResource describes one resource for both discovery forms.
type servedResource struct {
	gv           schema.GroupVersion
	resource     string
	singular     string
	kind         string
	namespaced   bool
	shortNames   []string
	verbs        []string
	subresources []string // each with verbs get, patch, update
}

var servedResources = []servedResource{
	{gv: certGV, resource: "certificatesigningrequests", singular: "certificatesigningrequest",
		kind: "CertificateSigningRequest", shortNames: []string{"csr"},
		verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		subresources: []string{"approval", "status"}},
	{gv: authnGV, resource: "selfsubjectreviews", singular: "selfsubjectreview", kind: "SelfSubjectReview", verbs: []string{"create"}},
	{gv: authzGV, resource: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview", kind: "SelfSubjectAccessReview", verbs: []string{"create"}},
	{gv: authzGV, resource: "selfsubjectrulesreviews", singular: "selfsubjectrulesreview", kind: "SelfSubjectRulesReview", verbs: []string{"create"}},
	// Always empty and read-only (see serveEvents). kubectl needs a core
	// v1 version in discovery to map the kind v1 List, which "kubectl get
	// -o yaml|json" writes for several objects, and client-go caches
	// discovery only when every version it lists has resources.
	{gv: coreGV, resource: eventsResource.Resource, singular: "event", kind: "Event", namespaced: true,
		shortNames: []string{"ev"}, verbs: []string{"list", "watch"}},
}

// servedGroups lists the named groups, served under /apis, in discovery
// order; the core group version coreGV is served under /api.
var servedGroups = []schema.GroupVersion{authnGV, authzGV, certGV}

// aggregatedDiscovery returns the aggregated discovery document (KEP-3352)
// of /api when core is set, else of /apis.
func (s *Server) aggregatedDiscovery(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: discoveryGV.String()},
	}
	groups := servedGroups
	if core {
		groups = []schema.GroupVersion{coreGV}
	}
	for _, gv := range groups {
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range servedResources {
			if r.gv != gv {
				continue
			}
			kind := &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.kind}
			scope := apidiscoveryv2.ScopeCluster
			if r.namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource: r.resource, SingularResource: r.singular, Scope: scope,
				ShortNames: r.shortNames, Verbs: r.verbs, ResponseKind: kind,
			}
			for _, sub := range r.subresources {
				rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource: sub, ResponseKind: kind, Verbs: []string{"get", "patch", "update"},
				})
			}
			v.Resources = append(v.Resources, rd)
		}
		list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions:   []apidiscoveryv2.APIVersionDiscovery{v},
		})
	}
	return list
}

func apiGroup(gv schema.GroupVersion) metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	return metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v,
	}
}

func apiResourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
		APIResources: []metav1.APIResource{},
	}
	for _, r := range servedResources {
		if r.gv != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.resource, SingularName: r.singular, Namespaced: r.namespaced, Kind: r.kind,
			ShortNames: r.shortNames, Verbs: r.verbs,
		})
		for _, sub := range r.subresources {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.resource + "/" + sub, Namespaced: r.namespaced, Kind: r.kind, Verbs: []string{"get", "patch", "update"},
			})
		}
	}
	return list
}

func (s *Server) versionInfo() *version.Info {
	return &version.Info{
		Major: APIMajor, Minor: APIMinor, GitVersion: APIGitVersion,
		GitCommit: strings.Repeat("0", 40), GitTreeState: "clean", BuildDate: "1970-01-01T00:00:00Z",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// serveNonResource answers discovery, version, OpenAPI, health and metrics.
func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
		return
	}
	switch {
	case path == "/healthz" || path == "/livez" || path == "/readyz" ||
		strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/") || strings.HasPrefix(path, "/readyz/"):
		s.serveHealth(w, r)
	case path == "/version":
		s.writeJSON(w, r, http.StatusOK, s.versionInfo())
	case path == "/metrics":
		s.metrics.handler.ServeHTTP(w, r)
	case path == "/api":
		s.serveDiscovery(w, r, true)
	case path == "/api/"+coreGV.Version:
		s.writeObject(w, r, http.StatusOK, apiResourceList(coreGV))
	case path == "/apis":
		s.serveDiscovery(w, r, false)
	case path == "/openapi/v2":
		s.serveOpenAPIV2(w, r)
	case path == "/openapi/v3":
		s.serveOpenAPIRoot(w, r)
	case strings.HasPrefix(path, "/openapi/v3/"):
		s.serveOpenAPIGroup(w, r, strings.TrimPrefix(path, "/openapi/v3/"))
	case strings.HasPrefix(path, "/apis/"):
		group := strings.TrimPrefix(path, "/apis/")
		for _, gv := range servedGroups {
			if group == gv.Group {
				g := apiGroup(gv)
				s.writeObject(w, r, http.StatusOK, &g)
				return
			}
			if group == gv.String() {
				s.writeObject(w, r, http.StatusOK, apiResourceList(gv))
				return
			}
		}
		s.writeError(w, r, errNoSuchPath())
	default:
		s.writeError(w, r, errNoSuchPath())
	}
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, core bool) {
	out, err := s.codecs.negotiate(r, false, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if out.kind == outputDiscovery {
		list := s.aggregatedDiscovery(core)
		if strings.Contains(out.contentType, "v=v2beta1") {
			list.APIVersion = "apidiscovery.k8s.io/v2beta1"
		}
		s.writeEncoded(w, r, out, http.StatusOK, list)
		return
	}
	if core {
		v := &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{coreGV.Version}}
		if s.cfg.ExternalAddress != "" {
			v.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.ExternalAddress}}
		}
		s.writeEncoded(w, r, out, http.StatusOK, v)
		return
	}
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range servedGroups {
		groups.Groups = append(groups.Groups, apiGroup(gv))
	}
	s.writeEncoded(w, r, out, http.StatusOK, groups)
}

// writeJSON answers with a plain JSON document (for types outside the scheme).
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var data []byte
	var err error
	if wantsPretty(r) {
		data, err = json.MarshalIndent(v, "", "  ")
	} else {
		data, err = jsonMarshal(v)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
