package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	certclient "k8s.io/client-go/kubernetes/typed/certificates/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

var csrGroupResource = schema.GroupResource{Group: certv1.GroupName, Resource: "certificatesigningrequests"}

// approvalFault answers the n-th approval request (PUT .../approval, n
// from 1) that reached a [faultProxy] instead of the server and reports
// whether it did; pass forwards a request to the server.
type approvalFault func(n int, w http.ResponseWriter, r *http.Request, pass http.Handler) bool

// faultProxy is a TLS reverse proxy (net/http/httputil) on 127.0.0.1 in
// front of a real test server, trusted through the server's CA. It
// reaches the server as the admin, whatever client certificate its own
// clients present, records when each approval request arrives, and lets
// its fault answer them.
type faultProxy struct {
	// addr is the proxy's host:port.
	addr string

	mu        sync.Mutex
	approvals []time.Time
}

func startFaultProxy(t *testing.T, srv *apiservertest.Server, fault approvalFault) *faultProxy {
	t.Helper()
	p := &faultProxy{}
	p.addr = startProxy(t, srv, func(w http.ResponseWriter, r *http.Request, rp http.Handler) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/approval") {
			p.mu.Lock()
			p.approvals = append(p.approvals, time.Now())
			n := len(p.approvals)
			p.mu.Unlock()
			if fault != nil && fault(n, w, r, rp) {
				return
			}
		}
		rp.ServeHTTP(w, r)
	})
	return p
}

// startProxy starts a TLS reverse proxy on 127.0.0.1 in front of srv,
// trusted through srv's CA and reaching srv as the admin, whose handler
// answers every request, passing it on with pass or not. It returns the
// proxy's host:port.
func startProxy(t *testing.T, srv *apiservertest.Server, handler func(w http.ResponseWriter, r *http.Request, pass http.Handler)) string {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := srv.ClientCert(apiservertest.AdminUser, apiservertest.AdminGroup)
	clientCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.CA.Cert)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}}
	rp.FlushInterval = -1 // watches stream
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(w, r, rp)
	}))
	serving, servingKey := pkitest.Leaf(t, srv.CA, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "fault-proxy"},
		SANs:        pki.SANs{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	// HTTP/1.1 only (httptest's default), so that a fault can hijack the
	// connection and reset it.
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{serving.Raw}, PrivateKey: servingKey, Leaf: serving}}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "https://")
}

// attempts returns the arrival times of the approval requests so far.
func (p *faultProxy) attempts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.approvals...)
}

// writeStatus answers with err's Status as the API server does.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	b, merr := json.Marshal(st)
	if merr != nil {
		panic(merr) // a Status always marshals
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(b)
}

// resetConnection drops the request's connection with a TCP reset and no
// answer, as a server that dies in the middle of a request.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // the proxy serves HTTP/1.1, whose connections hijack
	}
	raw := conn.(*tls.Conn).NetConn()
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	raw.Close()
}

// requestName returns the CSR name in an approval request's path.
func requestName(r *http.Request) string { return path.Base(path.Dir(r.URL.Path)) }

// runCLIContext runs the root command in-process with ctx.
func runCLIContext(ctx context.Context, args ...string) cliResult {
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(args)
	err := c.ExecuteContext(ctx)
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, code: ExitCode(err)}
}

// approvedConditions returns the Approved conditions of the only CSR on
// the server.
func approvedConditions(t *testing.T, client certclient.CertificateSigningRequestInterface) []certv1.CertificateSigningRequestCondition {
	t.Helper()
	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list CSRs = %v, %v; want the one user add created", list, err)
	}
	var approved []certv1.CertificateSigningRequestCondition
	for _, c := range list.Items[0].Status.Conditions {
		if c.Type == certv1.CertificateApproved {
			approved = append(approved, c)
		}
	}
	return approved
}

// TestUserAddApproveRetriesTransient: "user add --approve" behind a proxy
// that fails the first approval requests with answers that may pass
// (503, a reset connection, 429 with a delay, a lost answer) keeps
// trying, reports the run of failures once, honours the server's delay,
// and approves the request exactly once.
//
// client-go itself repeats, up to 10 times, answers that carry a
// Retry-After header; the faults here carry none (the 429 states its
// delay in the Status's details.retryAfterSeconds, which
// apierrors.SuggestsClientDelay reads), so the retries are the command's.
func TestUserAddApproveRetriesTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault approvalFault
		// wantAttempts is the number of approval requests the proxy sees.
		wantAttempts int
		// wantWarning is what stderr reports once; "" for no warning.
		wantWarning string
		// minGap is the least time between the first two attempts.
		minGap time.Duration
	}{
		{
			name: "503 three times",
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n > 3 {
					return false
				}
				writeStatus(w, apierrors.NewServiceUnavailable("the server is restarting"))
				return true
			},
			wantAttempts: 4,
			wantWarning:  "retrying in 250ms until the timeout",
			minGap:       retryMin,
		},
		{
			name: "connection reset twice",
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n > 2 {
					return false
				}
				resetConnection(w)
				return true
			},
			wantAttempts: 3,
			wantWarning:  "retrying in 250ms until the timeout",
			minGap:       retryMin,
		},
		{
			name: "429 asking for 1s",
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n > 1 {
					return false
				}
				writeStatus(w, apierrors.NewTooManyRequests("slow down", 1))
				return true
			},
			wantAttempts: 2,
			wantWarning:  "retrying in 1s until the timeout",
			minGap:       time.Second,
		},
		{
			// The approval reaches the server but its answer is lost:
			// the next round reads the request, finds it approved and
			// does not approve it again.
			name: "answer lost after the approval",
			fault: func(n int, w http.ResponseWriter, r *http.Request, pass http.Handler) bool {
				if n > 1 {
					return false
				}
				// Had it not reached the server, the command would
				// approve again and the proxy see two attempts.
				pass.ServeHTTP(httptest.NewRecorder(), r)
				writeStatus(w, apierrors.NewInternalError(errors.New("the answer was lost")))
				return true
			},
			wantAttempts: 1,
			wantWarning:  "retrying in 250ms until the timeout",
		},
		{
			// Conflicts are retried at once with a fresh copy, as before,
			// and are not reported.
			name: "409 twice",
			fault: func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if n > 2 {
					return false
				}
				writeStatus(w, apierrors.NewConflict(csrGroupResource, requestName(r), errors.New("the object has been modified")))
				return true
			},
			wantAttempts: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			proxy := startFaultProxy(t, srv, tc.fault)
			via := kubeconfigVia(t, srv, proxy.addr, apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			out := filepath.Join(t.TempDir(), "jane.conf")

			r := runCLI(t, "user", "add", "jane", "--approve", "--kubeconfig", via, "-o", out, "--timeout", "60s")
			if r.code != 0 {
				t.Fatalf("user add through the proxy = exit %d, %v; stderr %q", r.code, r.err, r.stderr)
			}
			attempts := proxy.attempts()
			if len(attempts) != tc.wantAttempts {
				t.Errorf("the proxy saw %d approval requests, want %d", len(attempts), tc.wantAttempts)
			}
			if tc.minGap > 0 && len(attempts) >= 2 {
				if gap := attempts[1].Sub(attempts[0]); gap < tc.minGap {
					t.Errorf("second approval request %s after the first, want at least %s", gap, tc.minGap)
				}
			}
			warnings := strings.Count(r.stderr, "warning: approving CertificateSigningRequest kubepki-user-jane-")
			switch {
			case tc.wantWarning == "" && r.stderr != "":
				t.Errorf("stderr = %q, want nothing", r.stderr)
			case tc.wantWarning != "" && (warnings != 1 || !strings.Contains(r.stderr, tc.wantWarning)):
				t.Errorf("stderr = %q, want the run of failures reported once with %q", r.stderr, tc.wantWarning)
			}
			if _, err := kubeconfig.Read(out); err != nil {
				t.Errorf("kubeconfig: %v", err)
			}
			approved := approvedConditions(t, client)
			if len(approved) != 1 || approved[0].Reason != "KubepkiApprove" {
				t.Errorf("Approved conditions = %+v, want exactly one by kubepki", approved)
			}
		})
	}
}

// TestUserAddApprovePermanentError: an approval answered with 403, 404 or
// 422 ends the command at once, after one attempt, with the server's
// answer (and for 403 what to do instead); the request is deleted.
func TestUserAddApprovePermanentError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     func(name string) *apierrors.StatusError
		wantErr []string
	}{
		{
			name: "403",
			err: func(name string) *apierrors.StatusError {
				return apierrors.NewForbidden(csrGroupResource, name, errors.New("no approve permission"))
			},
			wantErr: []string{"Error from server (Forbidden)", "may not read or approve requests for this signer"},
		},
		{
			name:    "404",
			err:     func(name string) *apierrors.StatusError { return apierrors.NewNotFound(csrGroupResource, name) },
			wantErr: []string{"Error from server (NotFound)"},
		},
		{
			name: "422",
			err: func(name string) *apierrors.StatusError {
				return apierrors.NewInvalid(schema.GroupKind{Group: certv1.GroupName, Kind: "CertificateSigningRequest"}, name,
					field.ErrorList{field.Invalid(field.NewPath("status", "conditions"), "Approved", "refused by the test")})
			},
			wantErr: []string{"Error from server (Invalid)", "refused by the test"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			proxy := startFaultProxy(t, srv, func(_ int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				writeStatus(w, tc.err(requestName(r)))
				return true
			})
			via := kubeconfigVia(t, srv, proxy.addr, apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			out := filepath.Join(t.TempDir(), "jane.conf")

			// A retry would go on until --timeout and add attempts.
			r := runCLI(t, "user", "add", "jane", "--approve", "--kubeconfig", via, "-o", out, "--timeout", "20s")
			if r.code != 1 || r.err == nil {
				t.Fatalf("user add = exit %d, %v; want exit 1", r.code, r.err)
			}
			for _, want := range append(tc.wantErr, "approve CertificateSigningRequest kubepki-user-jane-", "this command created", "was deleted") {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error %q does not say %q", r.err, want)
				}
			}
			if n := len(proxy.attempts()); n != 1 {
				t.Errorf("the proxy saw %d approval requests, want 1 (no retry)", n)
			}
			if strings.Contains(r.stderr, "retrying") {
				t.Errorf("stderr = %q, want no retry reported", r.stderr)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("%s was written although approving failed", out)
			}
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the failure: %v, want ours deleted", names)
			}
		})
	}
}

// TestUserAddApproveStops: while approvals keep failing with 503, the
// command retries until --timeout, or until it is interrupted, then says
// so with the last error and deletes its request.
func TestUserAddApproveStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		timeout   string
		interrupt bool
		wantErr   string
	}{
		{name: "timeout", timeout: "3s", wantErr: "timed out while approving CertificateSigningRequest kubepki-user-jane-"},
		{name: "interrupted", timeout: "60s", interrupt: true, wantErr: "interrupted while approving CertificateSigningRequest kubepki-user-jane-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			proxy := startFaultProxy(t, srv, func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if tc.interrupt && n == 2 {
					cancel() // ^C during the second attempt
				}
				writeStatus(w, apierrors.NewServiceUnavailable("the server is restarting"))
				return true
			})
			via := kubeconfigVia(t, srv, proxy.addr, apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			out := filepath.Join(t.TempDir(), "jane.conf")

			start := time.Now()
			r := runCLIContext(ctx, "user", "add", "jane", "--approve", "--kubeconfig", via, "-o", out, "--timeout", tc.timeout)
			elapsed := time.Since(start)
			if r.code != 1 || r.err == nil {
				t.Fatalf("user add = exit %d, %v; want exit 1", r.code, r.err)
			}
			for _, want := range []string{tc.wantErr, "(last error: Error from server (ServiceUnavailable)", "no file was written", "this command created", "was deleted"} {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error %q does not say %q", r.err, want)
				}
			}
			if n := len(proxy.attempts()); n < 2 {
				t.Errorf("the proxy saw %d approval requests, want retries", n)
			}
			if elapsed > 30*time.Second {
				t.Errorf("user add took %s, want it to end with --timeout %s or the interruption", elapsed, tc.timeout)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("%s was written although approving never succeeded", out)
			}
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the run ended: %v, want ours deleted", names)
			}
		})
	}
}

// TestUserAddApproveReplacedDuringOutage: the request is deleted and its
// name taken by another object while an approval fails with 503; the
// retry finds the other UID, approves nothing, and leaves the other
// object alone.
func TestUserAddApproveReplacedDuringOutage(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	// theirs is set by the proxy's handler goroutine.
	var theirs atomic.Pointer[certv1.CertificateSigningRequest]
	proxy := startFaultProxy(t, srv, func(n int, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if n == 1 {
			name := requestName(r)
			ours, err := client.Get(r.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("get ours: %v", err)
			} else if err := client.Delete(r.Context(), name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete ours: %v", err)
			} else {
				other := &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: certv1.CertificateSigningRequestSpec{
					Request: ours.Spec.Request, SignerName: ours.Spec.SignerName, Usages: ours.Spec.Usages}}
				created, err := client.Create(r.Context(), other, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create theirs: %v", err)
				}
				theirs.Store(created)
			}
		}
		writeStatus(w, apierrors.NewServiceUnavailable("the server is restarting"))
		return true
	})
	via := kubeconfigVia(t, srv, proxy.addr, apiservertest.AdminUser, apiservertest.AdminGroup)
	out := filepath.Join(t.TempDir(), "jane.conf")

	r := runCLI(t, "user", "add", "jane", "--approve", "--kubeconfig", via, "-o", out, "--timeout", "20s")
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "was replaced by another object") || !strings.Contains(r.err.Error(), "not approving it") {
		t.Fatalf("user add = exit %d, %v; want exit 1, replaced, not approving it", r.code, r.err)
	}
	if n := len(proxy.attempts()); n != 1 {
		t.Errorf("the proxy saw %d approval requests, want 1 (none for the other object)", n)
	}
	other := theirs.Load()
	if other == nil {
		t.FailNow()
	}
	cur, err := client.Get(t.Context(), other.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the other object is gone (%v), want it left alone by the UID precondition", err)
	}
	if cur.UID != other.UID || hasCondition(cur, certv1.CertificateApproved) {
		t.Errorf("the other object = UID %s, conditions %+v; want UID %s unapproved", cur.UID, cur.Status.Conditions, other.UID)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("%s was written for a request that is not ours", out)
	}
}

// TestUserAddDeletesRequestWhenWriteFails: when the kubeconfig cannot be
// written after the certificate was issued (checks before the request
// passed, and the path changed while the command waited), the issued
// request is deleted and the error says so; nothing is written.
func TestUserAddDeletesRequestWhenWriteFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		force bool
		// during changes the output path while the request waits.
		during  func(t *testing.T, out string)
		wantErr string
		wantIs  error
	}{
		{
			name: "kubeconfig appears",
			during: func(t *testing.T, out string) {
				if err := os.WriteFile(out, []byte("theirs"), 0o600); err != nil {
					t.Error(err)
				}
			},
			wantErr: "appeared while waiting",
		},
		{
			name: "folder removed",
			during: func(t *testing.T, out string) {
				if err := os.RemoveAll(filepath.Dir(out)); err != nil {
					t.Error(err)
				}
			},
			wantErr: "write kubeconfig: write ",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:  "folder at the path with --force",
			force: true,
			during: func(t *testing.T, out string) {
				if err := os.Mkdir(out, 0o700); err != nil {
					t.Error(err)
				}
			},
			wantErr: "write kubeconfig: write ",
			wantIs:  pki.ErrUnsafePath,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "jane.conf")
			args := []string{"user", "add", "jane", "--kubeconfig", admin, "-o", out, "--timeout", "60s"}
			if tc.force {
				args = append(args, "--force")
			}
			result := make(chan cliResult, 1)
			// Without --approve: the request waits until the test has
			// changed the path and approves it.
			go func() { result <- runCLI(t, args...) }()
			csr := waitForCSR(t.Context(), t, client)
			if csr == nil {
				t.FailNow()
			}
			tc.during(t, out)
			approveCSR(t, client, csr.Name)
			r := <-result
			if r.code != 1 || r.err == nil {
				t.Fatalf("user add = exit %d, %v; want exit 1", r.code, r.err)
			}
			for _, want := range []string{tc.wantErr, "no file was written", "this command created (CertificateSigningRequest " + csr.Name + ") was deleted"} {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error %q does not say %q", r.err, want)
				}
			}
			if tc.wantIs != nil && !errors.Is(r.err, tc.wantIs) {
				t.Errorf("error %v is not %v", r.err, tc.wantIs)
			}
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the write failed: %v, want the issued request deleted", names)
			}
			if fi, err := os.Lstat(out); err == nil && fi.Mode().IsRegular() {
				if b, _ := os.ReadFile(out); string(b) != "theirs" {
					t.Errorf("%s holds %d bytes of ours, want it untouched", out, len(b))
				}
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 1 {
				t.Errorf("%s holds %d entries, want no temporary files", dir, len(entries))
			}
		})
	}
}
