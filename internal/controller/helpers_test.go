package controller_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// waitTimeout bounds every wait for the controllers.
const waitTimeout = 30 * time.Second

// controllerUser is kube-controller-manager's identity: the default policy
// lets it sign and approve for the built-in signers but not update the
// main resource.
const controllerUser = "system:kube-controller-manager"

// recorder is an slog.Handler that counts messages and keeps records, so
// tests can assert on the audit trail.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
	next    slog.Handler
}

func newRecorder() *recorder {
	var next slog.Handler = slog.DiscardHandler
	if os.Getenv("KUBEPKI_TEST_LOG") != "" {
		next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return &recorder{next: next}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return r.next.Handle(ctx, rec)
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// count returns how many records have message msg and, if csr is not
// empty, attribute csr == csr.
func (r *recorder) count(msg, csr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Message != msg {
			continue
		}
		if csr == "" {
			n++
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "csr" && a.Value.String() == csr {
				n++
				return false
			}
			return true
		})
	}
	return n
}

// all returns every record's message and attributes as text, for scanning.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		s := rec.Message
		rec.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}

// env is a running API server with clients.
type env struct {
	srv   *apiservertest.Server
	admin certv1client.CertificateSigningRequestInterface
	// ctrl is the server's LocalClient, which serve gives the controllers.
	ctrl certv1client.CertificateSigningRequestInterface
	// ctrlHTTPS is kube-controller-manager's identity over HTTPS, with the
	// default policy's rights only.
	ctrlHTTPS certv1client.CertificateSigningRequestInterface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return envFor(t, apiservertest.Start(t, apiservertest.Options{}))
}

func envFor(t *testing.T, srv *apiservertest.Server) *env {
	t.Helper()
	local, err := srv.API.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		srv:       srv,
		admin:     srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests(),
		ctrl:      local,
		ctrlHTTPS: srv.Clientset(controllerUser).CertificatesV1().CertificateSigningRequests(),
	}
}

func (e *env) client(user string, groups ...string) certv1client.CertificateSigningRequestInterface {
	return e.srv.Clientset(user, groups...).CertificatesV1().CertificateSigningRequests()
}

// startManager runs a controller.Manager until the test ends (or stop is called) and
// fails the test if Run returns an error.
func startManager(t *testing.T, cfg controller.Config) (m *controller.Manager, stop func()) {
	t.Helper()
	m, err := controller.New(cfg)
	if err != nil {
		t.Fatalf("controller.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return within %v of cancellation", waitTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func generateKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// requestPEM makes a PKCS#10 request PEM for key.
func requestPEM(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.MarshalCSRPEM(der)
}

// newCSR returns a CSR object for a fresh key.
func newCSR(t testing.TB, name, signer string, subject pkix.Name, dns []string, ips []net.IP, usages ...certv1.KeyUsage) (*certv1.CertificateSigningRequest, crypto.Signer) {
	t.Helper()
	key := generateKey(t)
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    requestPEM(t, key, &x509.CertificateRequest{Subject: subject, DNSNames: dns, IPAddresses: ips}),
			SignerName: signer,
			Usages:     usages,
		},
	}, key
}

// userCSR is a client-signer CSR for CN=name, O=dev.
func userCSR(t testing.TB, name string) (*certv1.CertificateSigningRequest, crypto.Signer) {
	t.Helper()
	return newCSR(t, name, certificates.SignerKubeAPIServerClient, pkix.Name{CommonName: name, Organization: []string{"dev"}}, nil, nil,
		certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth)
}

func create(t testing.TB, c certv1client.CertificateSigningRequestInterface, csr *certv1.CertificateSigningRequest) *certv1.CertificateSigningRequest {
	t.Helper()
	out, err := c.Create(context.Background(), csr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create %s: %v", csr.Name, err)
	}
	return out
}

// approve appends an Approved condition as kubectl certificate approve does.
func approve(t testing.TB, c certv1client.CertificateSigningRequestInterface, name string) {
	t.Helper()
	setDecision(t, c, name, certv1.CertificateApproved, "KubectlApprove")
}

func deny(t testing.TB, c certv1client.CertificateSigningRequestInterface, name string) {
	t.Helper()
	setDecision(t, c, name, certv1.CertificateDenied, "KubectlDeny")
}

func setDecision(t testing.TB, c certv1client.CertificateSigningRequestInterface, name string, typ certv1.RequestConditionType, reason string) {
	t.Helper()
	ctx := context.Background()
	for range 10 { // kubectl retries on conflict up to 10 times
		csr, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Get %s: %v", name, err)
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
			Type: typ, Status: corev1.ConditionTrue, Reason: reason, LastUpdateTime: metav1.Now(),
		})
		_, err = c.UpdateApproval(ctx, name, csr, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !isConflict(err) {
			t.Fatalf("UpdateApproval %s: %v", name, err)
		}
	}
	t.Fatalf("UpdateApproval %s: conflicts 10 times", name)
}

// waitFor polls name until cond holds or waitTimeout passes.
func waitFor(t testing.TB, c certv1client.CertificateSigningRequestInterface, name string, what string,
	cond func(*certv1.CertificateSigningRequest) bool) *certv1.CertificateSigningRequest {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		csr, err := c.Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(csr) {
			return csr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %v (last: %+v, err %v)", name, what, waitTimeout, statusOf(csr), err)
		}
		<-tick.C
	}
}

func statusOf(csr *certv1.CertificateSigningRequest) any {
	if csr == nil {
		return nil
	}
	return csr.Status.Conditions
}

func waitIssued(t testing.TB, c certv1client.CertificateSigningRequestInterface, name string) (*certv1.CertificateSigningRequest, *x509.Certificate) {
	t.Helper()
	csr := waitFor(t, c, name, "issued", certificates.HasCertificate)
	cert, err := pki.ParseCertificatePEM(csr.Status.Certificate)
	if err != nil {
		t.Fatalf("%s: issued certificate does not parse: %v", name, err)
	}
	return csr, cert
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }

// openssl runs the real openssl and returns its output.
func openssl(t testing.TB, args ...string) string {
	t.Helper()
	path := pkitestTool(t, "openssl")
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkitestTool(t testing.TB, name string) string { return pkitest.RequireTool(t, name) }

func logger(r *recorder) *slog.Logger { return slog.New(r) }

func isForbidden(err error) bool { return apierrors.IsForbidden(err) }

func clientFor(t testing.TB, cfg *rest.Config) certv1client.CertificateSigningRequestInterface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs.CertificatesV1().CertificateSigningRequests()
}

// pkitestLeaf signs a throwaway client certificate with the server's CA.
func pkitestLeaf(t *testing.T, e *env) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	return pkitest.ClientCert(t, e.srv.CA, "someone")
}

// eventually polls cond until it holds or waitTimeout passes, and reports
// whether it held. Log lines are written just after the API call they
// record returns, so tests wait for them.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
