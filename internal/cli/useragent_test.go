package cli

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepki/kubepki/internal/pki"
)

// TestClientUserAgent: kubepki's API clients say who they are,
// "kubepki/VERSION (OS/ARCH)", where client-go's default would name the
// binary and an unset "$Format" version.
func TestClientUserAgent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"certificatesigningrequests.certificates.k8s.io \"x\" not found"}`))
	}))
	defer srv.Close()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: pki.MarshalCertificatePEM(srv.Certificate())}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "not-used"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "csr", "get", "x", "--kubeconfig", path)
	if r.code == 0 {
		t.Fatalf("csr get of a missing CSR succeeded: %q", r.stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "kubepki/" + version() + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if len(agents) == 0 {
		t.Fatal("no request reached the server")
	}
	for _, a := range agents {
		if a != want || strings.Contains(a, "$Format") {
			t.Errorf("User-Agent %q, want %q", a, want)
		}
	}
}
