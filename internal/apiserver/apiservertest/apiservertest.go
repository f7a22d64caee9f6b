// Package apiservertest starts a real kubepki API server for tests: TLS on
// 127.0.0.1 with a port of its own, a bbolt store in the test's temporary
// directory, a fresh test CA, and client certificates, client-go
// configurations and kubeconfig files for any user.
package apiservertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// AdminUser and AdminGroup are the identity of Admin: kubeadm's admin.conf.
const (
	AdminUser  = "kubernetes-admin"
	AdminGroup = "kubeadm:cluster-admins"
)

// Options adjust Start. The zero value is a server with the default policy.
type Options struct {
	// Policy replaces apiserver.DefaultPolicy().
	Policy *apiserver.Policy
	// Configure, when set, may change the server configuration before New.
	Configure func(*apiserver.Config)
	// Logger receives the server's logs; nil discards them (set
	// KUBEPKI_TEST_LOG=1 to see them on stderr).
	Logger *slog.Logger
	// Store replaces the bbolt store (for example an etcd store); the
	// caller closes it.
	Store storage.Interface
	// Controllers runs the signer, auto-approver and cleaner in-process
	// through the server's LocalClient, as serve does, signing with CA.
	Controllers bool
	// ControllerConfig, when set, may change the controller configuration
	// (Client and Signers are filled in).
	ControllerConfig func(*controller.Config)
}

// Server is a running test server.
type Server struct {
	// URL is the https URL of the server.
	URL string
	// CA signs the serving and client certificates; the server trusts it
	// for client authentication.
	CA *pki.CA
	// CAPEM is CA's certificate in PEM.
	CAPEM []byte
	// API is the server under test.
	API *apiserver.Server
	// Store is the server's store.
	Store storage.Interface
	// Registry holds the server's metrics.
	Registry *prometheus.Registry
	// Dir is a temporary directory for the test's files.
	Dir string

	t testing.TB
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, "kubernetes")
	store := opts.Store
	if store == nil {
		bs, err := bolt.Open(filepath.Join(dir, "kubepki.db"), bolt.Options{})
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		store = bs
		t.Cleanup(func() { _ = bs.Close() })
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	policy := opts.Policy
	if policy == nil {
		policy = apiserver.DefaultPolicy()
	}
	logger := opts.Logger
	if logger == nil && os.Getenv("KUBEPKI_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	reg := prometheus.NewRegistry()
	cfg := apiserver.Config{
		Store:         store,
		Authenticator: apiserver.NewX509Authenticator(pool, time.Now),
		Authorizer:    apiserver.NewRBACAuthorizer(policy),
		Policy:        policy,
		Logger:        logger,
		Registry:      reg,
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	api, err := apiserver.New(cfg)
	if err != nil {
		t.Fatalf("apiserver.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	serving, servingKey := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		SANs:        pki.SANs{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	tlsCert := tls.Certificate{Certificate: [][]byte{serving.Raw}, PrivateKey: servingKey, Leaf: serving}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- api.Run(ctx, ln, apiserver.TLSConfig(tlsCert)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("apiserver.Run: %v", err)
		}
	})
	if opts.Controllers {
		startControllers(t, ctx, api, ca, opts.ControllerConfig)
	}
	return &Server{
		URL: "https://" + ln.Addr().String(), CA: ca, CAPEM: pki.MarshalCertificatePEM(ca.Cert),
		API: api, Store: store, Registry: reg, Dir: dir, t: t,
	}
}

// startControllers runs the controllers until the test ends.
func startControllers(t testing.TB, ctx context.Context, api *apiserver.Server, ca *pki.CA, configure func(*controller.Config)) {
	t.Helper()
	client, err := api.LocalClient()
	if err != nil {
		t.Fatalf("local client: %v", err)
	}
	cfg := controller.Config{
		Client:  client,
		Signers: controller.SameCA(ca),
	}
	if configure != nil {
		configure(&cfg)
	}
	m, err := controller.New(cfg)
	if err != nil {
		t.Fatalf("controller.New: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("controllers: %v", err)
		}
	})
}

// ClientCert returns a client certificate and key (PEM) for user in groups.
func (s *Server) ClientCert(user string, groups ...string) (certPEM, keyPEM []byte) {
	s.t.Helper()
	cert, key := pkitest.ClientCert(s.t, s.CA, user, groups...)
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		s.t.Fatalf("marshal key: %v", err)
	}
	return pki.MarshalCertificatePEM(cert), keyPEM
}

// Config returns a client-go configuration for user in groups.
func (s *Server) Config(user string, groups ...string) *rest.Config {
	s.t.Helper()
	certPEM, keyPEM := s.ClientCert(user, groups...)
	return &rest.Config{
		Host: s.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: s.CAPEM, CertData: certPEM, KeyData: keyPEM,
		},
		QPS: -1,
	}
}

// AdminConfig returns a client-go configuration for kubeadm's admin identity.
func (s *Server) AdminConfig() *rest.Config { return s.Config(AdminUser, AdminGroup) }

// Clientset returns a typed client for user in groups.
func (s *Server) Clientset(user string, groups ...string) *kubernetes.Clientset {
	s.t.Helper()
	cs, err := kubernetes.NewForConfig(s.Config(user, groups...))
	if err != nil {
		s.t.Fatalf("kubernetes.NewForConfig: %v", err)
	}
	return cs
}

// KubeconfigFor writes a kubeconfig for user in groups into Dir and
// returns its path, for driving the real kubectl.
func (s *Server) KubeconfigFor(user string, groups ...string) string {
	s.t.Helper()
	certPEM, keyPEM := s.ClientCert(user, groups...)
	cfg := kubeconfig.NewCertConfig("kubepki", s.URL, s.CAPEM, user, certPEM, keyPEM)
	path := filepath.Join(s.Dir, fmt.Sprintf("kubeconfig-%s-%d", sanitize(user), time.Now().UnixNano()))
	if err := kubeconfig.Write(path, cfg); err != nil {
		s.t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
