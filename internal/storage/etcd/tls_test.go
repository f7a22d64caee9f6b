package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// tlsFixture is an etcd CA with a serving pair for 127.0.0.1 and a client
// pair, written to a temporary directory.
type tlsFixture struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "etcd-ca")
	caFile := filepath.Join(dir, "ca.crt")
	if err := pki.WriteFile(caFile, pki.MarshalCertificatePEM(ca.Cert), pki.ModeCert); err != nil {
		t.Fatal(err)
	}
	serverCert, serverKey := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "etcd-member"},
		SANs:        pki.SANs{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	clientCert, clientKey := pkitest.ClientCert(t, ca, "kube-apiserver-etcd-client")
	f := tlsFixture{caFile: caFile}
	f.serverCert, f.serverKey = pkitest.WritePair(t, dir, "server", serverCert, serverKey)
	f.clientCert, f.clientKey = pkitest.WritePair(t, dir, "apiserver-etcd-client", clientCert, clientKey)
	return f
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	c := etcdtest.Start(t, etcdtest.Options{ClientTLS: &etcdtest.TLSFiles{CertFile: f.serverCert, KeyFile: f.serverKey, ClientCAFile: f.caFile}})
	eps := c.Endpoints()
	if !strings.HasPrefix(eps[0], "https://") {
		t.Fatalf("endpoint %s is not https", eps[0])
	}

	tlsCfg, err := TLSConfig(f.caFile, f.clientCert, f.clientKey)
	if err != nil {
		t.Fatalf("TLSConfig() error = %v", err)
	}
	s := newTestStore(t, Config{Endpoints: eps, TLS: tlsCfg})
	rev, err := s.Create(t.Context(), "/tls/a", []byte("over mutual TLS"))
	if err != nil {
		t.Fatalf("Create() over mutual TLS error = %v", err)
	}
	if kv, err := s.Get(t.Context(), "/tls/a"); err != nil || kv.Revision != rev {
		t.Errorf("Get() over mutual TLS = %+v, %v", kv, err)
	}

	// Refused: no client certificate, a client certificate from another
	// CA, a server verified against another CA, and https without TLS.
	other := newTLSFixture(t)
	noClient, err := TLSConfig(f.caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	foreignClient, err := TLSConfig(f.caFile, other.clientCert, other.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA, err := TLSConfig(other.caFile, f.clientCert, f.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no client certificate":      {Endpoints: eps, TLS: noClient},
		"foreign client certificate": {Endpoints: eps, TLS: foreignClient},
		"wrong CA":                   {Endpoints: eps, TLS: wrongCA},
	} {
		cfg.DialTimeout = 3 * time.Second
		s, err := New(t.Context(), cfg)
		if err == nil {
			s.Close()
			t.Errorf("New(%s) succeeded, want a refused connection", name)
			continue
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("New(%s) error = %v, want %v", name, err, storage.ErrUnavailable)
		}
	}
	if _, err := New(t.Context(), Config{Endpoints: eps}); err == nil || !strings.Contains(err.Error(), "--etcd-cafile") {
		t.Errorf("New(https without TLS) error = %v, want one naming --etcd-cafile", err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	other := newTLSFixture(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		ca, cert, key, want string
	}{
		{"no CA", "", f.clientCert, f.clientKey, "--etcd-cafile"},
		{"missing CA file", filepath.Join(dir, "missing.crt"), "", "", "missing.crt"},
		{"CA not PEM", notPEM, "", "", "not.pem"},
		{"cert without key", f.caFile, f.clientCert, "", "--etcd-keyfile"},
		{"key without cert", f.caFile, "", f.clientKey, "--etcd-certfile"},
		{"key of another certificate", f.caFile, f.clientCert, other.clientKey, "check that the key belongs"},
		{"missing key file", f.caFile, f.clientCert, filepath.Join(dir, "gone.key"), "gone.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := TLSConfig(tc.ca, tc.cert, tc.key)
			if err == nil {
				t.Fatalf("TLSConfig(%q, %q, %q) = %v, want an error", tc.ca, tc.cert, tc.key, cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("TLSConfig() error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
	cfg, err := TLSConfig(f.caFile, f.clientCert, f.clientKey)
	if err != nil {
		t.Fatalf("TLSConfig(valid) error = %v", err)
	}
	if cfg.MinVersion < 0x0303 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("TLSConfig(valid) = MinVersion %x, %d certificates, roots %v", cfg.MinVersion, len(cfg.Certificates), cfg.RootCAs != nil)
	}
}

// TestNewNamesTLSCause checks that a refused TLS connection is reported
// with its cause and the flag to fix, not as a member that did not
// answer in time.
func TestNewNamesTLSCause(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	c := etcdtest.Start(t, etcdtest.Options{ClientTLS: &etcdtest.TLSFiles{CertFile: f.serverCert, KeyFile: f.serverKey, ClientCAFile: f.caFile}})
	eps := c.Endpoints()
	other := newTLSFixture(t)
	tlsConfig := func(ca, cert, key string) *tls.Config {
		t.Helper()
		cfg, err := TLSConfig(ca, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedEP := "https://" + closed.Addr().String()
	closedEP2 := "https://" + closed2.Addr().String()
	closed.Close()
	closed2.Close()
	plain := etcdtest.Start(t, etcdtest.Options{})
	plainAsHTTPS := "https://" + strings.TrimPrefix(plain.Endpoints()[0], "http://")

	tests := []struct {
		name      string
		endpoints []string
		tls       *tls.Config
		// check reports what is wrong with err, or "".
		check func(err error) string
		flag  string
	}{
		{"no client certificate", eps, tlsConfig(f.caFile, "", ""), wantRemoteAlert, "--etcd-certfile"},
		{"foreign client certificate", eps, tlsConfig(f.caFile, other.clientCert, other.clientKey), wantRemoteAlert, "--trusted-ca-file"},
		{"wrong CA", eps, tlsConfig(other.caFile, f.clientCert, f.clientKey), wantAs[*tls.CertificateVerificationError], "--etcd-cafile"},
		{"nothing listening", []string{closedEP}, tlsConfig(f.caFile, f.clientCert, f.clientKey), wantAs[*net.OpError], closedEP},
		{"two endpoints, neither listening", []string{closedEP, closedEP2}, tlsConfig(f.caFile, f.clientCert, f.clientKey), func(err error) string {
			if msg := err.Error(); !strings.Contains(msg, closedEP+": dial") || strings.Contains(msg, "\n") {
				return "want one line naming each endpoint's cause"
			}
			return ""
		}, closedEP2 + ": dial"},
		{"plain member written as https", []string{plainAsHTTPS}, tlsConfig(f.caFile, f.clientCert, f.clientKey), wantIs(io.EOF), "http://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(t.Context(), Config{Endpoints: tc.endpoints, TLS: tc.tls, DialTimeout: 2 * time.Second})
			if err == nil {
				s.Close()
				t.Fatalf("New() succeeded, want a refused connection")
			}
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("New() error = %v, want %v", err, storage.ErrUnavailable)
			}
			if problem := tc.check(err); problem != "" {
				t.Errorf("New() error = %v: %s", err, problem)
			}
			if !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("New() error = %v, want it to name %s", err, tc.flag)

			}
			if strings.Contains(err.Error(), "did not answer in time") {
				t.Errorf("New() error = %v, want the cause instead of the timeout", err)
			}
			if n := strings.Count(err.Error(), "connect to etcd"); n != 1 {
				t.Errorf("New() error = %v, says \"connect to etcd\" %d times, want once", err, n)
			}
		})
	}
}

// wantRemoteAlert reports whether err carries a TLS alert from the peer.
func wantRemoteAlert(err error) string {
	if !isRemoteAlert(err) {
		return "want a TLS alert from etcd"
	}
	return ""
}

// wantAs returns a check that err holds an error of type E.
func wantAs[E error](err error) string {
	if _, ok := errors.AsType[E](err); !ok {
		var e E
		return fmt.Sprintf("want a %T in the chain", e)
	}
	return ""
}

// wantIs returns a check that err wraps target.
func wantIs(target error) func(error) string {
	return func(err error) string {
		if !errors.Is(err, target) {
			return fmt.Sprintf("want %v in the chain", target)
		}
		return ""
	}
}
