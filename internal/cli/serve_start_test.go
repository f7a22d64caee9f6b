package cli

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// TestServeBusyPortLeavesDataDir checks that a first start on a port in
// use fails before it writes anything, and that a later start works.
func TestServeBusyPortLeavesDataDir(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	tmp := t.TempDir()
	missing, empty := filepath.Join(tmp, "missing"), filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{missing, empty} {
		before := dirSnapshot(t, dir)
		// --secure-port after runServe's own 0 wins.
		out, _, err := runServe(t, "--data-dir", dir, "--secure-port", port)
		if ExitCode(err) != 1 || !strings.Contains(err.Error(), "listen on 127.0.0.1:"+port) || !strings.Contains(err.Error(), "--secure-port") {
			t.Errorf("serve on a busy port = exit %d (%v), want 1 naming the address and --secure-port", ExitCode(err), err)
		}
		if out != "" {
			t.Errorf("stdout = %q, want nothing", out)
		}
		if after := dirSnapshot(t, dir); after != before {
			t.Errorf("the failed start changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		_, stop := startServe(t, dir)
		serveIssue(t, filepath.Join(dir, "admin.conf"))
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeFailedFirstStartLeavesDataDir checks that a first start that
// fails after the store is open removes what it wrote, so that the data
// dir is not left half made.
func TestServeFailedFirstStartLeavesDataDir(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	missing := filepath.Join(tmp, "missing.crt")
	_, _, err := runServe(t, "--data-dir", dir, "--tls-cert-file", missing, "--tls-private-key-file", missing)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "--tls-cert-file") {
		t.Fatalf("serve with a missing serving certificate = exit %d (%v), want 1 naming --tls-cert-file", ExitCode(err), err)
	}
	if got := dirSnapshot(t, dir); got != "absent" {
		t.Errorf("the failed first start left:\n%s", got)
	}
	_, stop := startServe(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServeEtcdTLSCause checks that a refused TLS connection to etcd is
// reported with its cause, once, and not as a member that did not answer.
func TestServeEtcdTLSCause(t *testing.T) {
	t.Parallel()
	newCA := func(name string) (ca *pki.CA, caFile, clientCert, clientKey string) {
		dir := t.TempDir()
		ca = pkitest.NewCA(t, name)
		caFile = filepath.Join(dir, "ca.crt")
		if err := pki.WriteFile(caFile, pki.MarshalCertificatePEM(ca.Cert), pki.ModeCert); err != nil {
			t.Fatal(err)
		}
		cert, key := pkitest.ClientCert(t, ca, "kube-apiserver-etcd-client")
		clientCert, clientKey = pkitest.WritePair(t, dir, "client", cert, key)
		return ca, caFile, clientCert, clientKey
	}
	ca, caFile, clientCert, clientKey := newCA("etcd-ca")
	_, otherCAFile, otherClientCert, otherClientKey := newCA("other-etcd-ca")
	serverCert, serverKey := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "etcd"},
		SANs:        pki.SANs{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	serverCertFile, serverKeyFile := pkitest.WritePair(t, t.TempDir(), "server", serverCert, serverKey)
	cluster := etcdtest.Start(t, etcdtest.Options{ClientTLS: &etcdtest.TLSFiles{
		CertFile: serverCertFile, KeyFile: serverKeyFile, ClientCAFile: caFile}})
	eps := strings.Join(cluster.Endpoints(), ",")

	tests := []struct {
		name  string
		flags []string
		// want is in the message; wantVerify asks for a failed
		// verification of etcd's certificate in the chain.
		want       []string
		wantVerify bool
	}{
		{"no client certificate", []string{"--etcd-cafile", caFile}, []string{"certificate required", "--etcd-certfile"}, false},
		{"wrong CA file", []string{"--etcd-cafile", otherCAFile, "--etcd-certfile", clientCert, "--etcd-keyfile", clientKey}, []string{"x509: certificate signed by unknown authority", "--etcd-cafile"}, true},
		{"client certificate of another CA", []string{"--etcd-cafile", caFile, "--etcd-certfile", otherClientCert, "--etcd-keyfile", otherClientKey}, []string{"remote error: tls:", "--trusted-ca-file"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			out, _, err := runServe(t, append([]string{"--data-dir", dir, "--etcd-servers", eps}, tc.flags...)...)
			if ExitCode(err) != 1 || !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("serve = exit %d (%v), want 1 and %v", ExitCode(err), err, storage.ErrUnavailable)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok != tc.wantVerify {
				t.Errorf("error %q: a *tls.CertificateVerificationError in the chain = %v, want %v", msg, ok, tc.wantVerify)
			}
			if n := strings.Count(msg, "connect to etcd"); n != 1 {
				t.Errorf("error %q says \"connect to etcd\" %d times, want once", msg, n)
			}
			if strings.Contains(msg, "did not answer in time") {
				t.Errorf("error %q reports the timeout instead of the cause", msg)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if got := dirSnapshot(t, dir); got != "absent" {
				t.Errorf("the failed start left:\n%s", got)
			}
		})
	}
}

// TestServeWarnsOpenKeys checks that serve warns about private keys and
// admin.conf that group or others may read, with the chmod that fixes
// each, and still refuses an open CA key.
func TestServeWarnsOpenKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	_, log, stop := startServeLog(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := log.String(); strings.Contains(l, "warning:") || strings.Contains(l, "level=WARN") {
		t.Errorf("a new data dir gets warnings:\n%s", l)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	open := map[string]os.FileMode{
		p("pki/apiserver.key"): 0o640,
		p("pki/sa.key"):        0o604,
		p("pki/etcd/ca.key"):   0o620,
		p("admin.conf"):        0o644,
	}
	for path, mode := range open {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	_, log, stop = startServeLog(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	l := log.String()
	for path, mode := range open {
		access := "readable"
		if mode&0o044 == 0 {
			access = "writable"
		}
		line := "warning: "
		if strings.HasSuffix(path, ".key") {
			line += "private key "
		} else {
			line += "cluster-admin kubeconfig "
		}
		line += path + " has mode 0" + strconv.FormatUint(uint64(mode), 8) + ", " + access + " by group or others; run \"chmod 600 " + path + "\"\n"
		if !strings.Contains(l, line) {
			t.Errorf("stderr lacks %q:\n%s", line, l)
		}
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "path="+path) {
			t.Errorf("log lacks a WARN line with path=%s:\n%s", path, l)
		}
	}
	if n := strings.Count(l, "warning: "); n != len(open) {
		t.Errorf("stderr has %d warnings, want %d:\n%s", n, len(open), l)
	}
	if strings.Contains(l, p("pki/ca.key")) {
		t.Errorf("ca.key (mode 0600) is warned about:\n%s", l)
	}

	// An open CA key still stops serve.
	if err := os.Chmod(p("pki/ca.key"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err := runServe(t, "--data-dir", dir)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "chmod 600 "+p("pki/ca.key")) {
		t.Errorf("serve with an open CA key = exit %d (%v), want 1 naming the chmod", ExitCode(err), err)
	}
}
