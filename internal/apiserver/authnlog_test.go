package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// foreignClient returns an HTTPS client whose certificate the server's CA
// did not sign: every request it sends fails authentication.
func foreignClient(t *testing.T, srv *apiservertest.Server) *http.Client {
	t.Helper()
	cert, key := pkitest.ClientCert(t, pkitest.NewCA(t, "elsewhere"), "mallory")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	return &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
	}}}
}

// TestAuthnFailureLogLimited: refused credentials are logged once a
// second at most, the first at once, and the next line counts those left
// out, so that a network client cannot grow the log without limit.
func TestAuthnFailureLogLimited(t *testing.T) {
	t.Parallel()
	var logs lockedWriter
	// The server's clock stands still unless the test moves it; the
	// authenticator checks certificates against the real time.
	start := time.Now()
	var clock atomic.Int64
	srv := apiservertest.Start(t, apiservertest.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Configure: func(c *apiserver.Config) {
			c.Now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
		}})
	c := foreignClient(t, srv)
	failed := func() []map[string]any {
		var out []map[string]any
		for _, l := range logs.lines() {
			if l["msg"] == "authentication failed" {
				out = append(out, l)
			}
		}
		return out
	}
	const requests = 1000
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for range next {
				if res := do(t, c, "GET", srv.URL+csrPath, "", nil); res.code != http.StatusUnauthorized {
					t.Errorf("foreign certificate = %d, want 401", res.code)
				}
			}
		})
	}
	for i := range requests {
		next <- i
	}
	close(next)
	wg.Wait()
	got := failed()
	if len(got) != 1 || got[0]["notLoggedSinceLast"] != float64(0) || got[0]["error"] == "" || got[0]["remote"] == "" {
		t.Fatalf("after %d refused requests within a second, log lines %v; want the first one, with its error and remote", requests, got)
	}
	clock.Store(int64(1500 * time.Millisecond))
	if res := do(t, c, "GET", srv.URL+csrPath, "", nil); res.code != http.StatusUnauthorized {
		t.Fatalf("foreign certificate = %d, want 401", res.code)
	}
	got = failed()
	if len(got) != 2 || got[1]["notLoggedSinceLast"] != float64(requests-1) {
		t.Errorf("a second later, log lines %v; want a second one counting the %d left out", got, requests-1)
	}
}
