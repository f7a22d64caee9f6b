package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepki/kubepki/internal/cli"
	"github.com/kubepki/kubepki/internal/pki"
)

// childEnv makes the test binary act as the kubepki command, so the tests
// run the real serve command in processes they can kill.
const childEnv = "KUBEPKI_E2E_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		cli.Main()
	}
	os.Exit(m.Run())
}

// logBuffer collects a child's JSON log lines.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []map[string]any
	// discard drops everything written from now on (benchmarks, whose
	// audit lines would cost the measuring process).
	discard bool
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard {
		return len(p), nil
	}
	b.buf.Write(p)
	for {
		i := bytes.IndexByte(b.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := b.buf.Next(i + 1)
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			b.lines = append(b.lines, m)
		} else {
			b.lines = append(b.lines, map[string]any{"msg": "(raw)", "text": strings.TrimSpace(string(line))})
		}
	}
	return len(p), nil
}

// find returns the log lines whose msg is msg.
func (b *logBuffer) find(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range b.lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, l := range b.lines {
		j, _ := json.Marshal(l)
		sb.Write(j)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// replica is one kubepki serve process.
type replica struct {
	t    testing.TB
	name string
	dir  string
	args []string
	cmd  *exec.Cmd
	logs *logBuffer // all runs, in order
	url  string
	done chan struct{}
}

func newReplica(t testing.TB, name, dir string, extra ...string) *replica {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--bind-address", "127.0.0.1", "--log-format", "json"}, extra...)
	r := &replica{t: t, name: name, dir: dir, args: args, logs: &logBuffer{}}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", r.name, r.tail(60))
		}
	})
	return r
}

func (r *replica) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// start runs the process and waits until it serves.
func (r *replica) start() {
	r.t.Helper()
	before := len(r.logs.find("serving"))
	cmd := exec.Command(os.Args[0], r.args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout = io.Discard
	cmd.Stderr = r.logs
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", r.name, err)
	}
	r.cmd = cmd
	done := make(chan struct{})
	r.done = done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.After(90 * time.Second)
	for {
		if s := r.logs.find("serving"); len(s) > before {
			r.url, _ = s[len(s)-1]["url"].(string)
			return
		}
		select {
		case <-done:
			r.t.Fatalf("%s exited before serving:\n%s", r.name, r.tail(30))
		case <-deadline:
			r.t.Fatalf("%s did not start serving within 90s:\n%s", r.name, r.tail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (r *replica) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// port is the port of the replica's current run.
func (r *replica) port() string {
	i := strings.LastIndex(r.url, ":")
	return r.url[i+1:]
}

// client builds an admin clientset from the replica's own admin.conf.
func (r *replica) client() kubernetes.Interface {
	r.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(r.dir, "admin.conf"))
	if err != nil {
		r.t.Fatalf("load %s admin.conf: %v", r.name, err)
	}
	cfg.Host = r.url
	cfg.QPS = -1 // no client-side rate limit: the tests and benchmarks measure the server
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	return cs
}

// newUserCSR builds a kube-apiserver-client CSR object for user name.
func newUserCSR(t testing.TB, name string) *certv1.CertificateSigningRequest {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: name, Organization: []string{"e2e"}}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pki.MarshalCSRPEM(der),
			SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}
}

func approve(ctx context.Context, cs kubernetes.Interface, csr *certv1.CertificateSigningRequest) error {
	c := csr.DeepCopy()
	c.Status.Conditions = append(c.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "E2EApprove", Message: "approved by the e2e test",
	})
	_, err := cs.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{})
	return err
}

// certWatcher records, per CSR UID, every distinct certificate any event
// carried, to prove that no CSR ever shows two certificates.
type certWatcher struct {
	mu    sync.Mutex
	certs map[string]map[string]bool
}

func (w *certWatcher) observe(csr *certv1.CertificateSigningRequest) {
	if len(csr.Status.Certificate) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	uid := string(csr.UID)
	if w.certs[uid] == nil {
		w.certs[uid] = map[string]bool{}
	}
	w.certs[uid][string(csr.Status.Certificate)] = true
}

// duplicates returns the UIDs that were seen with more than one certificate.
func (w *certWatcher) duplicates() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for uid, set := range w.certs {
		if len(set) > 1 {
			out = append(out, uid)
		}
	}
	return out
}

// verifyIssued checks that every CSR in names is Approved and carries a
// certificate that chains to ca for client auth and matches its request.
func verifyIssued(t *testing.T, ctx context.Context, cs kubernetes.Interface, names []string, ca *x509.Certificate, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	for len(pending) > 0 {
		list, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				c := &list.Items[i]
				if !pending[c.Name] || len(c.Status.Certificate) == 0 {
					continue
				}
				cert, err := pki.ParseCertificatePEM(c.Status.Certificate)
				if err != nil {
					t.Fatalf("%s: certificate does not parse: %v", c.Name, err)
				}
				if err := pki.VerifyChain(cert, []*x509.Certificate{ca}, nil, x509.ExtKeyUsageClientAuth, time.Now()); err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				req, err := pki.ParseCSRPEM(c.Spec.Request)
				if err != nil || !pki.PublicKeysEqual(req.PublicKey, cert.PublicKey) || cert.Subject.CommonName != c.Name {
					t.Fatalf("%s: certificate %v does not match its request (%v)", c.Name, cert.Subject, err)
				}
				delete(pending, c.Name)
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var missing []string
			for n := range pending {
				missing = append(missing, n)
			}
			t.Fatalf("%d approved CSRs still without a certificate after %v (last list error %v): %v", len(pending), within, err, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readCA reads the cluster CA certificate of a data dir.
func readCA(t testing.TB, dir string) *x509.Certificate {
	t.Helper()
	c, err := pki.ReadCertificateFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// copyTree copies a folder with its file modes.
func copyTree(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, fi.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startExpectingFailure runs the process and returns its error output once
// it exits, failing the test if it is still running (or serving) after d.
func (r *replica) startExpectingFailure(d time.Duration) string {
	r.t.Helper()
	cmd := exec.Command(os.Args[0], r.args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout = io.Discard
	cmd.Stderr = r.logs
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			r.t.Fatalf("%s exited 0, want a failure", r.name)
		}
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		r.t.Fatalf("%s still running after %v, want it to fail:\n%s", r.name, d, r.tail(20))
	}
	if len(r.logs.find("serving")) > 0 {
		r.t.Fatalf("%s served before failing", r.name)
	}
	return r.tail(5)
}
