package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"time"

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
}

// servedGroups lists the groups in discovery order.
var servedGroups = []schema.GroupVersion{authnGV, authzGV, certGV}

func (s *Server) aggregatedDiscovery() *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: discoveryGV.String()},
	}
	for _, gv := range servedGroups {
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range servedResources {
			if r.gv != gv {
				continue
			}
			kind := &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.kind}
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource: r.resource, SingularResource: r.singular, Scope: apidiscoveryv2.ScopeCluster,
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
			Name: r.resource, SingularName: r.singular, Kind: r.kind, ShortNames: r.shortNames, Verbs: r.verbs,
		})
		for _, sub := range r.subresources {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.resource + "/" + sub, Kind: r.kind, Verbs: []string{"get", "patch", "update"},
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
		list := s.aggregatedDiscovery()
		if core {
			list.Items = []apidiscoveryv2.APIGroupDiscovery{}
		}
		if strings.Contains(out.contentType, "v=v2beta1") {
			list.APIVersion = "apidiscovery.k8s.io/v2beta1"
		}
		s.writeEncoded(w, r, out, http.StatusOK, list)
		return
	}
	if core {
		v := &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{}}
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

// serveEmptyEventWatch answers a watch of events (kubectl events -w,
// kubectl get events -w): a stream on which no event ever comes, open until
// its timeout, the client leaves or the server stops. It counts against
// the user's watches like any other.
func (s *Server) serveEmptyEventWatch(w http.ResponseWriter, r *http.Request, st *reqState) {
	p, err := s.parseWatch(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("the connection cannot stream"))
		return
	}
	user := st.requester().Name
	if !s.acquireWatch(user) {
		s.writeError(w, r, s.tooManyWatches(user))
		return
	}
	defer s.releaseWatch(user)
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-s.stopping:
	case <-t.C:
	}
}

// serveEmptyEventList answers kubectl describe's and kubectl events'
// queries: this server records no events.
func (s *Server) serveEmptyEventList(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"kind": "EventList", "apiVersion": "v1", "metadata": map[string]any{}, "items": []any{},
	})
}
