package apiserver

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveImpersonationHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Impersonate-User":              {"bob"},
		"Impersonate-Group":             {"g1", "g2"},
		"Impersonate-Uid":               {"u-1"},
		"Impersonate-Extra-Scopes":      {"openid"},
		"Impersonate-Extra-Acme.com%2f": {"p1"},
		"impersonate-extra-lower":       {"x"}, // not canonical: set by code, not by a client
		"Impersonate-Extra":             {"no key: not an extra header"},
		"Accept":                        {"application/json"},
	}
	removeImpersonationHeaders(h)
	want := http.Header{
		"Impersonate-Extra": {"no key: not an extra header"},
		"Accept":            {"application/json"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers after removeImpersonationHeaders (-want +got):\n%s", diff)
	}
}

// TestParseImpersonationAllocs keeps the check free for the requests that
// impersonate nobody, which are nearly all of them.
// Not parallel: AllocsPerRun counts the allocations of the whole process.
func TestParseImpersonationAllocs(t *testing.T) {
	h := http.Header{"Accept": {"application/json"}, "User-Agent": {"kubectl/v1.32.4"}, "Kubectl-Command": {"kubectl get"}}
	allocs := testing.AllocsPerRun(100, func() {
		if ir, err := parseImpersonation(h); ir != nil || err != nil {
			t.Fatalf("parseImpersonation(%v) = %v, %v; want nil, nil", h, ir, err)
		}
	})
	if allocs != 0 {
		t.Errorf("parseImpersonation without impersonation headers: %v allocations, want 0", allocs)
	}
}
