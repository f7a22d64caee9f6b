package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// TestReadyzFollowsEtcd stops the only etcd member under a running server:
// /readyz turns unready and names the store, /livez stays ok, and both
// recover without a restart when the member returns.
func TestReadyzFollowsEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, etcdtest.Options{Members: 1})
	r := newReplica(t, "r1", filepath.Join(t.TempDir(), "r1"), "--etcd-servers", strings.Join(cluster.Endpoints(), ","))
	r.start()
	pool := x509.NewCertPool()
	pool.AddCert(readCA(t, r.dir))
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	get := func(path string) (int, string) {
		resp, err := hc.Get(r.url + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(path string, wantCode int) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, body := get(path)
			if code == wantCode {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d %q, want %d within 60s", path, code, body, wantCode)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("/readyz", http.StatusOK)

	cluster.Members()[0].Stop()
	// kube-apiserver answers a failed check with 500 and withholds the
	// reason from the client; the check's name and the log say why.
	body := waitFor("/readyz?verbose", http.StatusInternalServerError)
	if !strings.Contains(body, "[-]store failed") {
		t.Errorf("unready /readyz?verbose does not name the store check: %q", body)
	}
	var why string
	for deadline := time.Now().Add(10 * time.Second); why == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range r.logs.find("health check failed") {
			if l["check"] == "store" {
				why, _ = l["error"].(string)
			}
		}
	}
	if !strings.Contains(why, "etcd") {
		t.Errorf("the log does not say why the store is unhealthy: %q", why)
	}
	if code, body := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez = %d %q while etcd is down, want 200: liveness must not follow the store", code, body)
	}

	cluster.Members()[0].Restart(t)
	waitFor("/readyz", http.StatusOK)
}
