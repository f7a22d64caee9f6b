package kubeconfig

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// statuses returns each check's status in r.
func statuses(r ContextReport) map[string]Status {
	m := map[string]Status{}
	for _, res := range r.Results {
		m[res.Check] = res.Status
	}
	return m
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "kubernetes")
	other := pkitest.NewCA(t, "other")
	cert, key := pkitest.ClientCert(t, ca, "jane", "dev")
	foreign, _ := pkitest.ClientCert(t, other, "jane", "dev")
	_, otherKey := pkitest.ClientCert(t, ca, "x")
	serverOnly, serverKey := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "srv"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	caPEM := pki.MarshalCertificatePEM(ca.Cert)
	mk := func(certPEM, kPEM []byte) *clientcmdapi.Config {
		return NewCertConfig("kubernetes", "https://127.0.0.1:6443", caPEM, "jane", certPEM, kPEM)
	}
	pemKey := func(k crypto.Signer) []byte {
		b, err := pki.MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	certFile, keyFile := pkitest.WritePair(t, dir, "jane", cert, key)
	withFiles := mk(nil, nil)
	withFiles.AuthInfos["jane"].ClientCertificate = certFile
	withFiles.AuthInfos["jane"].ClientKey = filepath.Join(dir, "missing.key")
	withPaths := mk(nil, nil)
	withPaths.AuthInfos["jane"].ClientCertificate = certFile
	withPaths.AuthInfos["jane"].ClientKey = keyFile
	noCluster := mk(pki.MarshalCertificatePEM(cert), pemKey(key))
	noCluster.Contexts["jane@kubernetes"].Cluster = "gone"
	token := mk(nil, nil)
	token.AuthInfos["jane"].Token = "t"
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCA := mk(pki.MarshalCertificatePEM(cert), pemKey(key))
	badCA.Clusters["kubernetes"].CertificateAuthorityData = nil
	badCA.Clusters["kubernetes"].CertificateAuthority = filepath.Join(dir, "ca.crt")

	tests := []struct {
		name     string
		cfg      *clientcmdapi.Config
		now      time.Time
		want     map[string]Status
		wantFail bool
	}{
		{name: "good", cfg: mk(pki.MarshalCertificatePEM(cert), pemKey(key)),
			want: map[string]Status{CheckEntries: StatusOK, CheckCA: StatusOK, CheckFiles: StatusOK, CheckKey: StatusOK, CheckChain: StatusOK, CheckExpiry: StatusOK, CheckServerSAN: StatusSkip}},
		{name: "good with paths", cfg: withPaths, want: map[string]Status{CheckFiles: StatusOK, CheckKey: StatusOK, CheckChain: StatusOK}},
		{name: "key mismatch", cfg: mk(pki.MarshalCertificatePEM(cert), pemKey(otherKey)), want: map[string]Status{CheckKey: StatusFail, CheckChain: StatusOK}, wantFail: true},
		{name: "other CA", cfg: mk(pki.MarshalCertificatePEM(foreign), pemKey(key)), want: map[string]Status{CheckChain: StatusFail}, wantFail: true},
		{name: "server-only certificate", cfg: mk(pki.MarshalCertificatePEM(serverOnly), pemKey(serverKey)), want: map[string]Status{CheckKey: StatusOK, CheckChain: StatusFail}, wantFail: true},
		{name: "expired", cfg: mk(pki.MarshalCertificatePEM(cert), pemKey(key)), now: cert.NotAfter.Add(time.Hour), want: map[string]Status{CheckExpiry: StatusFail}, wantFail: true},
		{name: "expires soon", cfg: mk(pki.MarshalCertificatePEM(cert), pemKey(key)), now: cert.NotAfter.Add(-24 * time.Hour), want: map[string]Status{CheckExpiry: StatusWarn, CheckChain: StatusOK}},
		{name: "missing key file", cfg: withFiles, want: map[string]Status{CheckFiles: StatusFail}, wantFail: true},
		{name: "missing cluster", cfg: noCluster, want: map[string]Status{CheckEntries: StatusFail}, wantFail: true},
		{name: "token user", cfg: token, want: map[string]Status{CheckFiles: StatusSkip}},
		{name: "unparseable CA file", cfg: badCA, want: map[string]Status{CheckCA: StatusFail, CheckChain: StatusSkip}, wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := CheckOptions{}
			if !tc.now.IsZero() {
				opts.Now = func() time.Time { return tc.now }
			}
			reports, err := Check(t.Context(), tc.cfg, opts)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(reports) != 1 {
				t.Fatalf("got %d reports, want 1", len(reports))
			}
			got := statuses(reports[0])
			for check, want := range tc.want {
				if got[check] != want {
					t.Errorf("check %s = %q, want %q (results %+v)", check, got[check], want, reports[0].Results)
				}
			}
			if reports[0].Failed() != tc.wantFail {
				t.Errorf("Failed() = %v, want %v (results %+v)", reports[0].Failed(), tc.wantFail, reports[0].Results)
			}
		})
	}

	if _, err := Check(t.Context(), mk(nil, nil), CheckOptions{Context: "nope"}); err == nil {
		t.Error("Check of an unknown context succeeded, want ErrNoContext")
	}
}

// FuzzCheck runs the offline checks on arbitrary kubeconfigs. File paths
// are dropped so that the target only reads what it is given.
func FuzzCheck(f *testing.F) {
	ca := pkitest.NewCA(f, "kubernetes")
	cert, key := pkitest.ClientCert(f, ca, "jane", "dev")
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		f.Fatal(err)
	}
	good, err := Marshal(NewCertConfig("k", "https://127.0.0.1:6443", pki.MarshalCertificatePEM(ca.Cert), "jane", pki.MarshalCertificatePEM(cert), keyPEM))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(mergeA))
	f.Add([]byte(mergeB))
	f.Add([]byte("contexts: [{name: x, context: {cluster: c, user: u}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		for _, c := range cfg.Clusters {
			c.CertificateAuthority = ""
		}
		for _, u := range cfg.AuthInfos {
			u.ClientCertificate, u.ClientKey = "", ""
		}
		reports, err := Check(t.Context(), cfg, CheckOptions{})
		if err != nil {
			if len(cfg.Contexts) > 0 {
				t.Fatalf("Check failed with %d contexts: %v", len(cfg.Contexts), err)
			}
			return
		}
		if len(reports) != len(cfg.Contexts) {
			t.Fatalf("%d reports for %d contexts", len(reports), len(cfg.Contexts))
		}
		for _, r := range reports {
			if len(r.Results) == 0 {
				t.Fatalf("context %q has no results", r.Context)
			}
		}
	})
}

// TestCheckBothFileAndData writes kubeconfig files that name a file and
// carry inline data for one credential, and shows that Check fails them,
// as stock kubectl refuses to use them, while the same file with the data
// alone passes both: kubectl reaches a loopback server with it.
func TestCheckBothFileAndData(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"major":"1","minor":"32","gitVersion":"v1.32.0"}`)
	}))
	t.Cleanup(srv.Close)
	ca := pkitest.NewCA(t, "kubernetes")
	cert, key := pkitest.ClientCert(t, ca, "jane", "dev")
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := pkitest.WritePair(t, dir, "jane", cert, key)
	caFile := filepath.Join(dir, "server-ca.crt")
	// The cluster CA bundle: the server's and the client certificate's.
	serverCA := append(pki.MarshalCertificatePEM(srv.Certificate()), pki.MarshalCertificatePEM(ca.Cert)...)
	if err := os.WriteFile(caFile, serverCA, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		mutate    func(*clientcmdapi.Config)
		wantCheck string // the check that fails; "" for none
	}{
		{name: "data only"},
		{name: "client certificate file and data", wantCheck: CheckFiles,
			mutate: func(c *clientcmdapi.Config) { c.AuthInfos["jane"].ClientCertificate = certFile }},
		{name: "client key file and data", wantCheck: CheckFiles,
			mutate: func(c *clientcmdapi.Config) { c.AuthInfos["jane"].ClientKey = keyFile }},
		{name: "CA file and data", wantCheck: CheckCA,
			mutate: func(c *clientcmdapi.Config) { c.Clusters["kubernetes"].CertificateAuthority = caFile }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := NewCertConfig("kubernetes", srv.URL, serverCA, "jane", pki.MarshalCertificatePEM(cert), keyPEM)
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			home := t.TempDir()
			path := filepath.Join(home, "config")
			if err := Write(path, cfg); err != nil {
				t.Fatal(err)
			}

			loaded, err := LoadingRules(path).Load()
			if err != nil {
				t.Fatal(err)
			}
			reports, err := Check(t.Context(), loaded, CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, res := range reports[0].Results {
				if res.Status == StatusFail {
					failed = append(failed, res.Check)
					t.Logf("%s: %s", res.Check, res.Message)
				}
			}
			if tc.wantCheck == "" && len(failed) > 0 {
				t.Errorf("Check failed %q, want no failure", failed)
			}
			if tc.wantCheck != "" && !slices.Equal(failed, []string{tc.wantCheck}) {
				t.Errorf("Check failed %q, want exactly %q", failed, tc.wantCheck)
			}

			cmd := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", path, "get", "--raw", "/version", "--request-timeout", "10s")
			cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG=")
			out, err := cmd.CombinedOutput()
			if refused := err != nil; refused != (tc.wantCheck != "") {
				t.Errorf("kubectl get --raw /version: error %v, want refused %v\n%s", err, tc.wantCheck != "", out)
			}
		})
	}
}
