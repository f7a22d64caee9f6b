package apiserver_test

import (
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// countingTransport counts the requests that reach the network.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestStoreUnavailableNoRetry: a 503 for a store that cannot answer
// carries no Retry-After, so that client-go fails after one attempt
// instead of retrying ten times; 429s still carry it.
func TestStoreUnavailableNoRetry(t *testing.T) {
	t.Parallel()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := apiservertest.Start(t, apiservertest.Options{Store: store})
	var attempts atomic.Int64
	cfg := srv.AdminConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, n: &attempts} }
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	csrs := cs.CertificatesV1().CertificateSigningRequests()
	if _, err := csrs.List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatalf("list before the store closes: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"list", func() error { _, err := csrs.List(t.Context(), metav1.ListOptions{}); return err }},
		{"get", func() error { _, err := csrs.Get(t.Context(), "x", metav1.GetOptions{}); return err }},
		{"delete", func() error { return csrs.Delete(t.Context(), "x", metav1.DeleteOptions{}) }},
	} {
		attempts.Store(0)
		start := time.Now()
		err := tc.call()
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("%s on a closed store = %v, want 503", tc.name, err)
		}
		if n := attempts.Load(); n != 1 {
			t.Errorf("%s on a closed store took %d attempts in %v, want 1", tc.name, n, time.Since(start))
		}
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, admin, "GET", srv.URL+csrPath, "", nil)
	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "" {
		t.Errorf("raw list on a closed store = %d, Retry-After %q; want 503 without Retry-After", res.code, res.header.Get("Retry-After"))
	}
}

// TestRetryAfterWhereAsked: a Status that asks for a retry gets its
// Retry-After: the 504 of a resourceVersion the store has not reached,
// which client-go retries as it does against kube-apiserver.
func TestRetryAfterWhereAsked(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, admin, "GET", srv.URL+csrPath+"?resourceVersion=999999&resourceVersionMatch=NotOlderThan", "", nil)
	if res.code != http.StatusGatewayTimeout || res.header.Get("Retry-After") != "1" {
		t.Errorf("list at a future resourceVersion = %d, Retry-After %q; want 504 with Retry-After 1", res.code, res.header.Get("Retry-After"))
	}
}
