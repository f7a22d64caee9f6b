package apiserver

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, target string
		want           requestInfo
	}{
		{"GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests/a/approval",
			requestInfo{resource: true, verb: "get", group: "certificates.k8s.io", version: "v1",
				kind: "certificatesigningrequests", name: "a", subresource: "approval"}},
		{"GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=1",
			requestInfo{resource: true, verb: "watch", watch: true, group: "certificates.k8s.io", version: "v1", kind: "certificatesigningrequests"}},
		{"DELETE", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
			requestInfo{resource: true, verb: "deletecollection", group: "certificates.k8s.io", version: "v1", kind: "certificatesigningrequests"}},
		{"GET", "/api/v1/namespaces/default/events",
			requestInfo{resource: true, verb: "list", version: "v1", namespace: "default", kind: "events"}},
		{"GET", "/api/v1/namespaces/ns/events/e",
			requestInfo{resource: true, verb: "get", version: "v1", namespace: "ns", kind: "events", name: "e"}},
		// The namespace object itself, and its subresources.
		{"GET", "/api/v1/namespaces/default",
			requestInfo{resource: true, verb: "get", version: "v1", kind: "namespaces", name: "default"}},
		{"GET", "/api/v1/namespaces",
			requestInfo{resource: true, verb: "list", version: "v1", kind: "namespaces"}},
		{"GET", "/api/v1/namespaces/ns/pods/p/log/x",
			requestInfo{verb: "get", version: "v1", namespace: "ns", badPath: true}},
		{"GET", "/healthz", requestInfo{verb: "get"}},
		// Empty segments name nothing.
		{"GET", "/api/v1/namespaces//events", requestInfo{verb: "get", version: "v1", badPath: true}},
		{"GET", "/api/0//0", requestInfo{verb: "get", version: "0", badPath: true}},
		{"GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests//approval",
			requestInfo{verb: "get", group: "certificates.k8s.io", version: "v1", badPath: true}},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		tc.want.path = r.URL.Path
		if got := parseRequestInfo(r); got != tc.want {
			t.Errorf("%s %s = %+v, want %+v", tc.method, tc.target, got, tc.want)
		}
	}
}

// TestWantsPretty reads pretty as kube-apiserver does: a non-empty value
// through strconv.ParseBool, which also overrides the curl default; an
// empty one falls back to the user agent.
func TestWantsPretty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query, agent string
		want         bool
	}{
		{"pretty=true", "kubectl", true},
		{"pretty=True", "kubectl", true},
		{"pretty=t", "kubectl", true},
		{"pretty=1", "kubectl", true},
		{"pretty=false", "curl/8.5", false},
		{"pretty=yes", "kubectl", false},
		{"pretty=", "curl/8.5", true},
		{"pretty=", "kubectl", false},
		{"", "Wget/1.21", true},
		{"", "kubectl", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/apis?"+tc.query, nil)
		r.Header.Set("User-Agent", tc.agent)
		if got := wantsPretty(r); got != tc.want {
			t.Errorf("?%s with %s: pretty %v, want %v", tc.query, tc.agent, got, tc.want)
		}
	}
}
