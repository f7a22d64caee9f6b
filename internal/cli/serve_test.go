package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// serveBuffer is a bytes.Buffer shared by the command and the test.
type serveBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *serveBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *serveBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServe runs kubepki serve in-process until the returned stop is called.
func startServe(t *testing.T, dir string, extra ...string) (out *serveBuffer, stop func() error) {
	t.Helper()
	out, _, stop = startServeLog(t, dir, extra...)
	return out, stop
}

// startServeLog is startServe that also returns the server's log.
func startServeLog(t *testing.T, dir string, extra ...string) (out, errOut *serveBuffer, stop func() error) {
	t.Helper()
	out, errOut = &serveBuffer{}, &serveBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut})
	c.SetArgs(append([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"}, extra...))
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "kubectl get csr") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\nstderr: %s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not print its kubeconfig line; stderr: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out, errOut, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not stop within 60s of cancellation")
			return nil
		}
	}
}

func serveCountCSRs(t *testing.T, kubeconfigPath string) int {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		t.Fatalf("load %s: %v", kubeconfigPath, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list CSRs through %s: %v", kubeconfigPath, err)
	}
	return len(list.Items)
}

// serveIssue has a CSR approved by the administrator and waits until the
// in-process signer issues it.
func serveIssue(t *testing.T, kubeconfigPath string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := cs.CertificatesV1().CertificateSigningRequests()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: "serve-user", Organization: []string{"devs"}}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := client.Create(t.Context(), &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "serve-user"},
		Spec: certv1.CertificateSigningRequestSpec{Request: pki.MarshalCSRPEM(der),
			SignerName: certv1.KubeAPIServerClientSignerName, Usages: []certv1.KeyUsage{certv1.UsageClientAuth}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CSR: %v", err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
	if _, err := client.UpdateApproval(t.Context(), csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("approve: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := client.Get(t.Context(), csr.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Status.Certificate) > 0 {
			cert, err := pki.ParseCertificatePEM(got.Status.Certificate)
			if err != nil || cert.Subject.CommonName != "serve-user" {
				t.Fatalf("issued certificate: %v, CN %q", err, cert.Subject.CommonName)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the in-process signer did not issue the approved CSR within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeCreatesPKIAndReusesIt(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	out, stop := startServe(t, dir)
	adminConf := filepath.Join(dir, "admin.conf")
	want := "export KUBECONFIG=" + adminConf + "\nkubectl get csr\n"
	if got := out.String(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if n := serveCountCSRs(t, adminConf); n != 0 {
		t.Errorf("fresh server lists %d CSRs, want 0", n)
	}
	serveIssue(t, adminConf)
	for path, mode := range map[string]os.FileMode{
		adminConf:                                  0o600,
		filepath.Join(dir, "pki", "ca.key"):        0o600,
		filepath.Join(dir, "pki", "ca.crt"):        0o644,
		filepath.Join(dir, "pki", "apiserver.key"): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("stat %s: %v", path, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode = %o, want %o", path, st.Mode().Perm(), mode)
		}
	}
	caBefore, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after SIGTERM-like cancellation, want nil", err)
	}

	// The second start reuses the PKI and the store, on a new port.
	_, stop = startServe(t, dir)
	defer stop()
	caAfter, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caBefore, caAfter) {
		t.Error("the second start replaced ca.crt, want it reused")
	}
	if n := serveCountCSRs(t, adminConf); n != 1 {
		t.Errorf("restarted server lists %d CSRs, want the 1 stored before", n)
	}
}

// TestServeRefusesLostStore checks that a data dir whose store has gone
// is not given a new, empty one (security.md §2 items 9 and 10) unless
// --allow-new-store asks for it, and that fresh dirs and restarts are
// unaffected.
func TestServeRefusesLostStore(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "kubepki.db")
	marker := filepath.Join(dir, "kubepki.db.created")
	adminConf := filepath.Join(dir, "admin.conf")
	serveFails := func(t *testing.T) *storeLostError {
		t.Helper()
		var out, errOut bytes.Buffer
		c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		c.SetArgs([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"})
		// A server that starts after all is stopped, and fails the test.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		err := c.ExecuteContext(ctx)
		if ExitCode(err) != 1 {
			t.Fatalf("serve without its store = exit %d (%v), want 1", ExitCode(err), err)
		}
		lost, ok := errors.AsType[*storeLostError](err)
		if !ok {
			t.Fatalf("serve without its store = %v, want a *storeLostError", err)
		}
		for _, want := range []string{db, "--allow-new-store", "restore"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if out.Len() != 0 {
			t.Errorf("stdout = %q, want nothing", out.String())
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("the refused start created %s (stat: %v)", db, err)
		}
		return lost
	}

	// A fresh dir starts, and marks the store it creates.
	_, stop := startServe(t, dir)
	serveIssue(t, adminConf)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the first start left no marker: %v", err)
	}
	// A restart with the store keeps the CSR.
	_, stop = startServe(t, dir)
	if n := serveCountCSRs(t, adminConf); n != 1 {
		t.Errorf("restarted server lists %d CSRs, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The store deleted: refused, naming the marker.
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if got := serveFails(t); got.Path != db || got.Evidence != marker {
		t.Errorf("refusal = %+v, want path %s, evidence %s", got, db, marker)
	}
	// A data dir from before the marker: admin.conf is the evidence.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	if got := serveFails(t); got.Evidence != adminConf {
		t.Errorf("refusal without marker names %s, want %s", got.Evidence, adminConf)
	}

	// --allow-new-store starts empty, says so, and the next start is normal.
	_, log, stop := startServeLog(t, dir, "--allow-new-store")
	if n := serveCountCSRs(t, adminConf); n != 0 {
		t.Errorf("server on a new store lists %d CSRs, want 0", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "--allow-new-store") || !strings.Contains(l, db) {
		t.Errorf("log of --allow-new-store lacks the warning naming %s:\n%s", db, l)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the new store is not marked: %v", err)
	}
	_, stop = startServe(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeWithEtcd(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t, etcdtest.Options{})
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startServe(t, dir, "--etcd-servers", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/kubepki-test")
	serveIssue(t, filepath.Join(dir, "admin.conf"))
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubepki.db")); !os.IsNotExist(err) {
		t.Errorf("serve with etcd created a bbolt store (stat: %v)", err)
	}
	// A second server on the same etcd sees the CSR.
	_, stop = startServe(t, dir, "--etcd-servers", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/kubepki-test")
	defer stop()
	if n := serveCountCSRs(t, filepath.Join(dir, "admin.conf")); n != 1 {
		t.Errorf("restarted server on etcd lists %d CSRs, want 1", n)
	}
}

// TestServeEtcdPrefixesElectSeparately checks that two kubepki clusters
// sharing one etcd under different --etcd-prefix values each elect their
// own controllers, so both sign, as two Kubernetes clusters each have
// their own kube-controller-manager lease.
func TestServeEtcdPrefixesElectSeparately(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t, etcdtest.Options{})
	for _, prefix := range []string{"/registry", "/cluster-a", "/cluster-b"} {
		dir := filepath.Join(t.TempDir(), "data")
		_, stop := startServe(t, dir, "--etcd-servers", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", prefix)
		defer stop()
		serveIssue(t, filepath.Join(dir, "admin.conf"))
	}
}

// TestServeEtcdDataDirInUse checks that a second serve on the data dir
// of a running one fails at once with --etcd-servers too, where no bbolt
// file lock stops it, and leaves the first one's admin.conf alone.
func TestServeEtcdDataDirInUse(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t, etcdtest.Options{})
	dir := filepath.Join(t.TempDir(), "data")
	flags := []string{"--etcd-servers", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/kubepki-busy"}
	_, stop := startServe(t, dir, flags...)
	adminConf := filepath.Join(dir, "admin.conf")
	before, err := os.ReadFile(adminConf)
	if err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(append([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"}, flags...))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = c.ExecuteContext(ctx)
	if busy, ok := errors.AsType[*dataDirBusyError](err); !ok || busy.Dir != dir {
		t.Fatalf("second serve on %s = %v, want a *dataDirBusyError for it", dir, err)
	}
	if after, err := os.ReadFile(adminConf); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the refused serve changed %s (read: %v)", adminConf, err)
	}
	serveIssue(t, adminConf)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Once the first has stopped, the data dir is free again.
	_, stop = startServe(t, dir, flags...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServeRefusesLostEtcdStore checks that serve notices when etcd no
// longer holds the store its data dir used (a wiped etcd, or another
// cluster's), that a second data dir joins the store etcd holds, and that
// --allow-new-store goes on with etcd's store on purpose.
func TestServeRefusesLostEtcdStore(t *testing.T) {
	t.Parallel()
	first := etcdtest.Start(t, etcdtest.Options{})
	dir := filepath.Join(t.TempDir(), "data")
	idFile := filepath.Join(dir, "etcd-store-id")
	flags := func(e *etcdtest.Cluster) []string {
		return []string{"--etcd-servers", strings.Join(e.Endpoints(), ","), "--etcd-prefix", "/kubepki-test"}
	}
	readID := func(t *testing.T, path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read the store ID: %v", err)
		}
		id := strings.TrimSpace(string(data))
		if len(id) != 32 {
			t.Fatalf("store ID %q, want 32 hex digits", id)
		}
		return id
	}
	serveFails := func(t *testing.T, e *etcdtest.Cluster) *etcdStoreLostError {
		t.Helper()
		var out, errOut bytes.Buffer
		c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		c.SetArgs(append([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"}, flags(e)...))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		err := c.ExecuteContext(ctx)
		lost, ok := errors.AsType[*etcdStoreLostError](err)
		if ExitCode(err) != 1 || !ok {
			t.Fatalf("serve on an etcd without its store = exit %d (%v), want 1 and an *etcdStoreLostError", ExitCode(err), err)
		}
		for _, want := range []string{idFile, "--allow-new-store", "restore etcd", "/kubepki-test"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if out.Len() != 0 {
			t.Errorf("stdout = %q, want nothing", out.String())
		}
		return lost
	}

	// The first start makes the store's ID, in etcd and in the data dir.
	_, stop := startServe(t, dir, flags(first)...)
	serveIssue(t, filepath.Join(dir, "admin.conf"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	id := readID(t, idFile)
	if fi, err := os.Stat(idFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store ID file: %v, %v; want mode 0600", fi, err)
	}
	// A restart on the same etcd, and a second replica with a data dir of
	// its own, use that store.
	_, stop = startServe(t, dir, flags(first)...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "replica")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pki", "admin.conf"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(other, name)); err != nil {
			t.Fatal(err)
		}
	}
	_, stop = startServe(t, other, flags(first)...)
	if n := serveCountCSRs(t, filepath.Join(other, "admin.conf")); n != 1 {
		t.Errorf("the second replica lists %d CSRs, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := readID(t, filepath.Join(other, "etcd-store-id")); got != id {
		t.Errorf("the second replica recorded store %s, want etcd's %s", got, id)
	}
	for _, name := range []string{"pki", "admin.conf"} {
		if err := os.Rename(filepath.Join(other, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	// A new, empty etcd in place of the first: refused, and the data
	// dir still names the old store.
	second := etcdtest.Start(t, etcdtest.Options{})
	lost := serveFails(t, second)
	if lost.Had != id || !lost.New || lost.Found != "" || !strings.Contains(lost.Error(), "holds no kubepki store") {
		t.Errorf("refusal %+v, want the old store %s and none found", lost, id)
	}
	if got := readID(t, idFile); got != id {
		t.Errorf("the refused start changed the data dir's store ID to %s", got)
	}
	// The refusal wrote nothing to etcd: the same refusal again.
	lost = serveFails(t, second)
	if lost.Had != id || !lost.New || lost.Found != "" {
		t.Errorf("second refusal %+v, want the old store %s and still none found", lost, id)
	}

	// --allow-new-store goes on with a new store, warns, and records it.
	_, log, stop := startServeLog(t, dir, append(flags(second), "--allow-new-store")...)
	if n := serveCountCSRs(t, filepath.Join(dir, "admin.conf")); n != 0 {
		t.Errorf("the new etcd lists %d CSRs, want 0", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "--allow-new-store") {
		t.Errorf("log of --allow-new-store lacks the warning:\n%s", l)
	}
	newID := readID(t, idFile)
	if newID == id {
		t.Errorf("after --allow-new-store the data dir still names the old store %s", id)
	}
	// Now the first etcd is the foreign one.
	if lost := serveFails(t, first); lost.Found != id || lost.Had != newID || lost.New || !strings.Contains(lost.Error(), "holds another store") {
		t.Errorf("back on the first etcd: %+v, want its store %s found and the second's %s had", lost, id, newID)
	}
}

func TestServeBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"no data dir", []string{"serve"}},
		{"bad port", []string{"serve", "--data-dir", "d", "--secure-port", "70000"}},
		{"bad bind address", []string{"serve", "--data-dir", "d", "--bind-address", "localhost"}},
		{"short duration", []string{"serve", "--data-dir", "d", "--cluster-signing-duration", "1m"}},
		{"bad log format", []string{"serve", "--data-dir", "d", "--log-format", "xml"}},
		{"negative pending limit", []string{"serve", "--data-dir", "d", "--max-pending-csrs-per-user", "-1"}},
		{"bad log level", []string{"serve", "--data-dir", "d", "--log-level", "loud"}},
		{"etcd key without cert", []string{"serve", "--data-dir", "d", "--etcd-servers", "https://e:2379", "--etcd-keyfile", "k"}},
		{"etcd flags without servers", []string{"serve", "--data-dir", "d", "--etcd-cafile", "ca"}},
		{"positional argument", []string{"serve", "--data-dir", "d", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			c.SetArgs(tc.args)
			err := c.ExecuteContext(t.Context())
			if code := ExitCode(err); code != 2 {
				t.Errorf("serve %v: exit %d (%v), want 2", tc.args, code, err)
			}
			if out.Len() != 0 {
				t.Errorf("serve %v wrote %q to stdout, want nothing", tc.args, out.String())
			}
		})
	}
}

// TestServeSIGTERM runs the real binary and stops it with SIGTERM while a
// watch is open: the watch ends, the process exits 0 and the store closes.
func TestServeSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kubepki binary")
	}
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SKIPPED: go not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "kubepki")
	if out, err := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "github.com/kubepki/kubepki/cmd/kubepki").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.CommandContext(t.Context(), bin, "serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "json")
	var out, errOut serveBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "kubectl get csr") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no startup lines; stderr: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CertificatesV1().CertificateSigningRequests().Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		for range w.ResultChan() {
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("the open watch did not end after SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\nstderr: %s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), `"msg":"stopped"`) {
		t.Errorf("stderr lacks the stopped line: %s", errOut.String())
	}
	// The store was closed cleanly: a new server opens it at once.
	_, stop := startServe(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeWithEtcdTLS(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	ca := pkitest.NewCA(t, "etcd-ca")
	caFile := filepath.Join(certDir, "ca.crt")
	if err := pki.WriteFile(caFile, pki.MarshalCertificatePEM(ca.Cert), pki.ModeCert); err != nil {
		t.Fatal(err)
	}
	serverCert, serverKey := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "etcd"},
		SANs:        pki.SANs{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	serverCertFile, serverKeyFile := pkitest.WritePair(t, certDir, "server", serverCert, serverKey)
	clientCert, clientKey := pkitest.ClientCert(t, ca, "kube-apiserver-etcd-client")
	clientCertFile, clientKeyFile := pkitest.WritePair(t, certDir, "client", clientCert, clientKey)
	etcd := etcdtest.Start(t, etcdtest.Options{ClientTLS: &etcdtest.TLSFiles{
		CertFile: serverCertFile, KeyFile: serverKeyFile, ClientCAFile: caFile}})
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startServe(t, dir, "--etcd-servers", strings.Join(etcd.Endpoints(), ","),
		"--etcd-cafile", caFile, "--etcd-certfile", clientCertFile, "--etcd-keyfile", clientKeyFile)
	defer stop()
	serveIssue(t, filepath.Join(dir, "admin.conf"))
}

func TestServeBadFiles(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	badPolicy := filepath.Join(tmp, "policy.yaml")
	if err := os.WriteFile(badPolicy, []byte("kind: ClusterRole\nrules: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing.crt")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad policy file", []string{"--authorization-policy-file", badPolicy}, "--authorization-policy-file"},
		{"missing serving certificate", []string{"--tls-cert-file", missing, "--tls-private-key-file", missing}, "--tls-cert-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			c.SetArgs(append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "d"), "--secure-port", "0"}, tc.args...))
			err := c.ExecuteContext(t.Context())
			if ExitCode(err) != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve %v = exit %d, %v; want exit 1 naming %s", tc.args, ExitCode(err), err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

func TestServeAllInterfaces(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startServe(t, dir, "--bind-address", "0.0.0.0")
	defer stop()
	if n := serveCountCSRs(t, filepath.Join(dir, "admin.conf")); n != 0 {
		t.Errorf("lists %d CSRs, want 0", n)
	}
	cert, err := pki.ReadCertificateFile(filepath.Join(dir, "pki", "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range machineAddresses() {
		found := false
		for _, ip := range cert.IPAddresses {
			found = found || ip.String() == want
		}
		if !found {
			t.Errorf("apiserver.crt IP SANs %v lack the machine address %s", cert.IPAddresses, want)
		}
	}
}

// TestServeRefusesEmptyStore checks that a store truncated to nothing
// counts as lost: bbolt would make an empty file a new store, losing
// every CSR and starting resourceVersions again (security.md §2 items 9
// and 10).
func TestServeRefusesEmptyStore(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "kubepki.db")
	adminConf := filepath.Join(dir, "admin.conf")
	_, stop := startServe(t, dir)
	serveIssue(t, adminConf)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := c.ExecuteContext(ctx)
	lost, ok := errors.AsType[*storeLostError](err)
	if !ok {
		t.Fatalf("serve on an empty store file = %v, want a *storeLostError", err)
	}
	if !lost.Empty || lost.Path != db {
		t.Errorf("refusal = %+v, want path %s and Empty", lost, db)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the refused start changed %s (stat: %v)", db, err)
	}

	// --allow-new-store starts empty on purpose.
	_, stop = startServe(t, dir, "--allow-new-store")
	if n := serveCountCSRs(t, adminConf); n != 0 {
		t.Errorf("server on a new store lists %d CSRs, want 0", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
