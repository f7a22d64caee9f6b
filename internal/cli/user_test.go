package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	certclient "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// signerMode says how the test signer answers.
type signerMode int

const (
	signHonestly signerMode = iota
	// signOtherKey issues a certificate for a key of its own, as a
	// malicious or broken signer might.
	signOtherKey
	// denyAll denies every pending request instead of signing.
	denyAll
	// signOtherCA signs with a CA the cluster does not trust.
	signOtherCA
)

// startTestSigner runs a misbehaving signer or approver next to the
// server (the honest one is the server's own controller, Options.
// Controllers): it watches CSRs through client-go as a system:masters
// identity and signs approved ones with the server's CA through the status
// subresource, for a key of its own with signOtherKey, or denies pending
// ones with denyAll, until the test ends.
func startTestSigner(t testing.TB, srv *apiservertest.Server, mode signerMode) {
	t.Helper()
	client := srv.Clientset("test-signer", "system:masters").CertificatesV1().CertificateSigningRequests()
	signer := srv.CA
	if mode == signOtherCA {
		signer = pkitest.NewCA(t, "kubernetes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := client.Watch(ctx, metav1.ListOptions{})
			if err != nil {
				return
			}
			for ev := range w.ResultChan() {
				csr, ok := ev.Object.(*certv1.CertificateSigningRequest)
				if !ok || len(csr.Status.Certificate) > 0 || hasCondition(csr, certv1.CertificateDenied) {
					continue
				}
				if mode == denyAll {
					if !hasCondition(csr, certv1.CertificateApproved) {
						csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
							Type: certv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "TestDeny", Message: "denied by the test"})
						_, _ = client.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
					}
					continue
				}
				if !hasCondition(csr, certv1.CertificateApproved) {
					continue
				}
				req, err := pki.ParseCSRPEM(csr.Spec.Request)
				if err != nil {
					continue
				}
				eku := x509.ExtKeyUsageClientAuth
				if slices.Contains(csr.Spec.Usages, certv1.UsageServerAuth) {
					eku = x509.ExtKeyUsageServerAuth
				}
				pub := req.PublicKey
				if mode == signOtherKey {
					other, err := pki.GenerateKey(pki.ECDSAP256)
					if err != nil {
						continue
					}
					pub = other.Public()
				}
				cert, err := signer.Sign(pub, pki.CertOptions{Subject: req.Subject, SANs: pki.SANsOf(req),
					ExtKeyUsage: []x509.ExtKeyUsage{eku}, Validity: 24 * time.Hour})
				if err != nil {
					continue
				}
				csr.Status.Certificate = pki.MarshalCertificatePEM(cert)
				_, _ = client.UpdateStatus(ctx, csr, metav1.UpdateOptions{})
			}
			w.Stop()
		}
	}()
}

// cliResult is the outcome of one in-process run of the root command.
type cliResult struct {
	stdout, stderr string
	err            error
	code           int
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(args)
	err := c.ExecuteContext(t.Context())
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, code: ExitCode(err)}
}

// kubectlWhoami runs the real "kubectl auth whoami" with kubeconfigFile.
func kubectlWhoami(t *testing.T, kubeconfigFile string) string {
	t.Helper()
	kubectl := pkitest.RequireTool(t, "kubectl")
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", kubeconfigFile, "auth", "whoami")
	cmd.Env = []string{"HOME=" + home, "KUBECACHEDIR=" + filepath.Join(home, "cache"), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
	}
	return string(out)
}

// listCSRs returns the names of every CSR on the server.
func listCSRs(t *testing.T, client certclient.CertificateSigningRequestInterface) []string {
	t.Helper()
	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list CSRs: %v", err)
	}
	var names []string
	for _, c := range list.Items {
		names = append(names, c.Name)
	}
	return names
}

func TestUserAddThenKubectlWhoami(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	out := filepath.Join(t.TempDir(), "jane.conf")

	r := runCLI(t, "user", "add", "jane", "--group", "dev", "--group", "ops", "--approve",
		"--expiration", "1h", "--kubeconfig", admin, "-o", out)
	if r.code != 0 {
		t.Fatalf("user add: exit %d, err %v, stderr %q", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, `user "jane" added: wrote `+out) {
		t.Errorf("stdout = %q, want the written file named", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing when not a terminal", r.stderr)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %o, want 600", out, st.Mode().Perm())
	}
	cfg, err := kubeconfig.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "jane@kubepki" {
		t.Errorf("current-context = %q, want jane@kubepki", cfg.CurrentContext)
	}
	cl := cfg.Clusters["kubepki"]
	if cl == nil || cl.Server != srv.URL || !bytes.Equal(cl.CertificateAuthorityData, srv.CAPEM) {
		t.Fatalf("cluster = %+v, want the admin's cluster with the CA embedded", cl)
	}
	u := cfg.AuthInfos["jane"]
	if u == nil || len(u.ClientCertificateData) == 0 || len(u.ClientKeyData) == 0 || u.ClientCertificate != "" {
		t.Fatalf("user = %+v, want embedded credentials", u)
	}
	cert, err := pki.ParseCertificatePEM(u.ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(u.ClientKeyData)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.KeyMatchesCertificate(key, cert); err != nil {
		t.Errorf("written key does not match the written certificate: %v", err)
	}
	if cert.Subject.CommonName != "jane" || !slices.Equal(cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("certificate subject = %v, want CN=jane O=dev,ops", cert.Subject)
	}

	// The request that was created carries what the issue asks for.
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list CSRs = %v, %v; want exactly the one user add created", list, err)
	}
	csr := list.Items[0]
	if csr.Spec.SignerName != certv1.KubeAPIServerClientSignerName || !slices.Contains(csr.Spec.Usages, certv1.UsageClientAuth) ||
		csr.Spec.ExpirationSeconds == nil || *csr.Spec.ExpirationSeconds != 3600 || !hasCondition(&csr, certv1.CertificateApproved) {
		t.Errorf("CSR spec = %+v, conditions %+v; want kube-apiserver-client, client auth, 3600s, Approved", csr.Spec, csr.Status.Conditions)
	}

	who := kubectlWhoami(t, out)
	if !regexp.MustCompile(`(?m)^Username\s+jane$`).MatchString(who) || !regexp.MustCompile(`(?m)^Groups\s+\[dev ops system:authenticated\]$`).MatchString(who) {
		t.Errorf("kubectl auth whoami = %q, want Username jane and Groups [dev ops system:authenticated]", who)
	}

	// A second run does not overwrite the file.
	r = runCLI(t, "user", "add", "jane", "--group", "dev", "--approve", "--kubeconfig", admin, "-o", out)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
		t.Errorf("second user add = exit %d, %v; want exit 1, already exists", r.code, r.err)
	}
	if n := len(listCSRs(t, client)); n != 1 {
		t.Errorf("after refused rerun there are %d CSRs, want 1 (nothing created)", n)
	}
}

func TestUserAddFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    signerMode
		signer  bool
		args    []string
		wantErr string
	}{
		{name: "denied", mode: denyAll, signer: true, args: []string{"--timeout", "1m"}, wantErr: "was denied"},
		{name: "certificate for another key", mode: signOtherKey, signer: true, args: []string{"--approve", "--timeout", "1m"}, wantErr: "different public key"},
		{name: "certificate from another CA", mode: signOtherCA, signer: true, args: []string{"--approve", "--timeout", "1m"}, wantErr: "does not chain to the cluster CA"},
		{name: "timeout", args: []string{"--timeout", "2s"}, wantErr: "timed out waiting"},
		{name: "approved but no signer", args: []string{"--approve", "--timeout", "2s"}, wantErr: "was approved but not issued"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{})
			if tc.signer {
				startTestSigner(t, srv, tc.mode)
			}
			admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
			out := filepath.Join(t.TempDir(), "jane.conf")
			args := append([]string{"user", "add", "jane", "--group", "dev", "--kubeconfig", admin, "-o", out}, tc.args...)
			r := runCLI(t, args...)
			if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Fatalf("user add = exit %d, err %v; want exit 1 with %q", r.code, r.err, tc.wantErr)
			}
			if !strings.Contains(r.err.Error(), "no file was written") {
				t.Errorf("error %q does not say that nothing was written", r.err)
			}
			if _, err := os.Lstat(out); err == nil {
				t.Errorf("%s was written despite the failure", out)
			}
			// Issued or not, the request is of no use once refused.
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the failure: %v, want the request deleted", names)
			}
			if !regexp.MustCompile(`the request this command created \(CertificateSigningRequest kubepki-user-jane-[0-9a-f]{8}\) was deleted$`).MatchString(r.err.Error()) {
				t.Errorf("error %q does not end saying that the request was deleted", r.err)
			}
			if strings.Contains(r.err.Error(), "stopped waiting") {
				t.Errorf("error %q holds the sentinel's text; want sentences only", r.err)
			}
			if wantEnded := tc.name == "timeout" || tc.name == "approved but no signer"; errors.Is(r.err, errWaitEnded) != wantEnded {
				t.Errorf("errors.Is(%v, errWaitEnded) = %v, want %v", r.err, !wantEnded, wantEnded)
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 0 {
				t.Errorf("output directory holds %d entries, want none (no temporary files)", len(entries))
			}
		})
	}
}

// TestUserAddApproveForbidden: an identity that may not approve is told
// so before any request is created, with the permissions it lacks.
func TestUserAddApproveForbidden(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Policy: csrReaderPolicy()})
	reader := srv.KubeconfigFor("rita", "csr-readers")
	out := filepath.Join(t.TempDir(), "eve.conf")
	r := runCLI(t, "user", "add", "eve", "--group", "dev", "--approve", "--kubeconfig", reader, "-o", out, "--timeout", "30s")
	if r.code != 1 || r.err == nil {
		t.Fatalf("user add as rita = exit %d, %v; want a failure", r.code, r.err)
	}
	for _, want := range []string{
		`may not update certificatesigningrequests.certificates.k8s.io/approval "kubepki-user-eve-`,
		`approve signers.certificates.k8s.io "kubernetes.io/kube-apiserver-client" (or "kubernetes.io/*"), which --approve needs`,
		"nothing was created",
		"run without --approve",
	} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error = %q, want %q", r.err, want)
		}
	}
	if strings.Contains(r.err.Error(), "may not get") {
		t.Errorf("error = %q names get, which rita may", r.err)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("%s written although the request could not be approved", out)
	}
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if names := listCSRs(t, admin); len(names) != 0 {
		t.Errorf("CSRs %v created, want none", names)
	}
}

func TestUserAddUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{name: "no name", args: []string{"user", "add"}},
		{name: "empty name", args: []string{"user", "add", ""}},
		{name: "node identity", args: []string{"user", "add", "system:node:n1"}},
		{name: "bad algorithm", args: []string{"user", "add", "jane", "--key-algorithm", "dsa"}},
		{name: "short expiration", args: []string{"user", "add", "jane", "--expiration", "5m"}},
		{name: "huge expiration", args: []string{"user", "add", "jane", "--expiration", "1000000h"}},
		{name: "bad timeout", args: []string{"user", "add", "jane", "--timeout", "0s"}},
		{name: "node bad name", args: []string{"node", "add", "Not_A_Node"}},
		{name: "node bad ip", args: []string{"node", "add", "n1", "--ip", "300.1.1.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append(tc.args, "--kubeconfig", filepath.Join(dir, "none.conf"))...)
			if r.code != 2 {
				t.Errorf("%v = exit %d (%v), want 2", tc.args, r.code, r.err)
			}
		})
	}
}

func TestNodeAdd(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	out := filepath.Join(dir, "kubelet.conf")
	crt, key := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	r := runCLI(t, "node", "add", "worker-1", "--approve", "--ip", "10.0.0.11", "--dns", "worker-1.example",
		"--kubeconfig", admin, "-o", out, "--serving-cert-file", crt, "--serving-key-file", key)
	if r.code != 0 {
		t.Fatalf("node add: exit %d, %v, stderr %q", r.code, r.err, r.stderr)
	}
	cfg, err := kubeconfig.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "system:node:worker-1@kubepki" {
		t.Errorf("current-context = %q, want kubeadm's kubelet.conf name", cfg.CurrentContext)
	}
	who := kubectlWhoami(t, out)
	if !regexp.MustCompile(`(?m)^Username\s+system:node:worker-1$`).MatchString(who) || !regexp.MustCompile(`(?m)^Groups\s+\[system:nodes system:authenticated\]$`).MatchString(who) {
		t.Errorf("kubectl auth whoami = %q, want Username system:node:worker-1 and Groups [system:nodes system:authenticated]", who)
	}
	for path, mode := range map[string]os.FileMode{out: 0o600, key: 0o600, crt: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode = %o, want %o", path, st.Mode().Perm(), mode)
		}
	}
	serving, err := pki.ReadCertificateFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	servingKey, err := pki.ReadPrivateKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.KeyMatchesCertificate(servingKey, serving); err != nil {
		t.Errorf("serving key does not match: %v", err)
	}
	if !slices.Equal(serving.DNSNames, []string{"worker-1.example"}) || len(serving.IPAddresses) != 1 || serving.IPAddresses[0].String() != "10.0.0.11" {
		t.Errorf("serving SANs = %v %v, want worker-1.example and 10.0.0.11", serving.DNSNames, serving.IPAddresses)
	}
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]bool{}
	for _, c := range list.Items {
		signers[c.Spec.SignerName] = true
		if c.Spec.SignerName == certv1.KubeAPIServerClientKubeletSignerName &&
			!slices.Equal(c.Spec.Usages, []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}) {
			t.Errorf("kubelet client usages = %v, want the kubelet's exact set", c.Spec.Usages)
		}
	}
	if !signers[certv1.KubeAPIServerClientKubeletSignerName] || !signers[certv1.KubeletServingSignerName] || len(list.Items) != 2 {
		t.Errorf("CSR signers = %v, want one kubelet client and one kubelet serving request", signers)
	}
}

// TestEnrollNeverAdopts checks the rules that keep the wait on our own
// object: another UID under the same name, a deletion, a denial.
func TestEnrollNeverAdopts(t *testing.T) {
	t.Parallel()
	e := &enroller{now: time.Now}
	ours := types.UID("ours")
	tests := []struct {
		name     string
		obj      *certv1.CertificateSigningRequest
		wantDone bool
		wantErr  bool
	}{
		{name: "pending", obj: &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{UID: ours}}},
		{name: "issued", obj: &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{UID: ours}, Status: certv1.CertificateSigningRequestStatus{Certificate: []byte("x")}}, wantDone: true},
		{name: "issued to another object", obj: &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{UID: "theirs"}, Status: certv1.CertificateSigningRequestStatus{Certificate: []byte("x")}}, wantErr: true},
		{name: "denied", obj: &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{UID: ours}, Status: certv1.CertificateSigningRequestStatus{Conditions: []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateDenied}}}}, wantErr: true},
		{name: "failed", obj: &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{UID: ours}, Status: certv1.CertificateSigningRequestStatus{Conditions: []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateFailed}}}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, done, err := e.check(tc.obj, ours)
			if done != tc.wantDone || (err != nil) != tc.wantErr {
				t.Errorf("check = done %v, err %v; want done %v, error %v", done, err, tc.wantDone, tc.wantErr)
			}
		})
	}
}

func TestCSRObjectName(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"jane", "Jane.Doe@Example.COM", "system:node:n1", "---", strings.Repeat("a", 300)} {
		name, err := csrObjectName("user", in)
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("csrObjectName(%q) = %q, not a valid object name", in, name)
		}
		again, _ := csrObjectName("user", in)
		if again == name {
			t.Errorf("csrObjectName(%q) returned %q twice, want a fresh name each time", in, name)
		}
	}
}

// waitForCSR polls until the server holds a CSR and returns it.
func waitForCSR(ctx context.Context, t *testing.T, client certclient.CertificateSigningRequestInterface) *certv1.CertificateSigningRequest {
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) > 0 {
			return &list.Items[0]
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Error("no CSR appeared within 30s")
	return nil
}

func TestUserAddInterruptedAndReplaced(t *testing.T) {
	t.Parallel()
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		srv := apiservertest.Start(t, apiservertest.Options{})
		admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
		client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
		out := filepath.Join(t.TempDir(), "jane.conf")
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			// The user presses ^C once the request is on the server.
			waitForCSR(ctx, t, client)
			cancel()
		}()
		var stdout, stderr bytes.Buffer
		c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr})
		c.SetArgs([]string{"user", "add", "jane", "--kubeconfig", admin, "-o", out, "--timeout", "1m"})
		err := c.ExecuteContext(ctx)
		if ExitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "interrupted") ||
			!strings.Contains(err.Error(), "no file was written") || !strings.Contains(err.Error(), "run the command again") {
			t.Fatalf("interrupted user add = exit %d, %v; want exit 1 saying interrupted, nothing written, and how to resume", ExitCode(err), err)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Error("a kubeconfig was written although the run was interrupted")
		}
		// Interrupted while waiting, the command deletes its request;
		// interrupted while the create was in flight it cannot know the
		// request's UID and says so instead.
		if !strings.Contains(err.Error(), "may exist on the server") {
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the interruption: %v, want ours deleted", names)
			}
		}
	})
	t.Run("replaced while waiting", func(t *testing.T) {
		t.Parallel()
		srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
		admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
		client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
		out := filepath.Join(t.TempDir(), "jane.conf")
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			// Someone deletes our request and creates an approved one of
			// the same name for a key of their own.
			ours := waitForCSR(t.Context(), t, client)
			if ours == nil {
				return
			}
			if err := client.Delete(t.Context(), ours.Name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete: %v", err)
				return
			}
			key, err := pki.GenerateKey(pki.ECDSAP256)
			if err != nil {
				t.Error(err)
				return
			}
			der, err := pki.CreateCSR(key, pkix.Name{CommonName: "jane"}, pki.SANs{})
			if err != nil {
				t.Error(err)
				return
			}
			theirs := &certv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: ours.Name},
				Spec:       certv1.CertificateSigningRequestSpec{Request: pki.MarshalCSRPEM(der), SignerName: ours.Spec.SignerName, Usages: ours.Spec.Usages},
			}
			created, err := client.Create(context.Background(), theirs, metav1.CreateOptions{})
			if err != nil {
				t.Errorf("recreate: %v", err)
				return
			}
			created.Status.Conditions = append(created.Status.Conditions, certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
			if _, err := client.UpdateApproval(context.Background(), created.Name, created, metav1.UpdateOptions{}); err != nil {
				t.Errorf("approve: %v", err)
			}
		}()
		r := runCLI(t, "user", "add", "jane", "--kubeconfig", admin, "-o", out, "--timeout", "1m")
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), "was deleted") {
			t.Fatalf("user add with its request deleted = exit %d, %v; want exit 1, was deleted", r.code, r.err)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Error("a kubeconfig was written for a request that is not ours")
		}
	})
}

func FuzzEnrollFlags(f *testing.F) {
	f.Add("jane", "dev", "10.0.0.1", "worker-1.example")
	f.Add("Jane.Doe@Example.COM", "", "::1", "*.example")
	f.Add("system:node:n1", "system:nodes", "300.1.1.1", "-bad-")
	f.Add("", " ", "", "")
	f.Fuzz(func(t *testing.T, name, group, ip, dns string) {
		objName, err := csrObjectName("user", name)
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsDNS1123Subdomain(objName); len(errs) > 0 {
			t.Fatalf("csrObjectName(%q) = %q, invalid: %v", name, objName, errs)
		}
		u := &userAddOptions{}
		if err := u.Complete([]string{name}); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(u.output, `/\`) || strings.HasPrefix(u.output, ".") {
			t.Fatalf("user add %q: default output %q has a path separator or a leading dot", name, u.output)
		}
		if err := validateIdentity(name, []string{group}); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		o := &nodeAddOptions{ips: []string{ip}, dnsNames: []string{dns}}
		if err := o.Complete([]string{name}); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if errs := validation.IsDNS1123Subdomain(o.name); len(errs) > 0 {
			t.Fatalf("node name %q accepted: %v", o.name, errs)
		}
	})
}

// BenchmarkUserAdd measures one whole "user add --approve" against a real
// server on loopback with its in-process signing controller: key generation, create,
// approve, watch, issue, verify and the kubeconfig write.
func BenchmarkUserAdd(b *testing.B) {
	srv := apiservertest.Start(b, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		var out, errOut bytes.Buffer
		c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		c.SetArgs([]string{"user", "add", fmt.Sprintf("user-%d", i), "--group", "dev", "--approve",
			"--kubeconfig", admin, "-o", filepath.Join(dir, fmt.Sprintf("u%d.conf", i))})
		if err := c.ExecuteContext(b.Context()); err != nil {
			b.Fatalf("user add: %v", err)
		}
	}
}

func TestUserAddChecksOutputFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "taken.conf")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No kubeconfig and no server are needed: the checks come first.
	none := filepath.Join(dir, "none.conf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "jane", "-o", filepath.Join(dir, "missing", "jane.conf")}, "does not exist"},
		{[]string{"user", "add", "jane", "-o", existing}, "already exists"},
		{[]string{"node", "add", "n1", "--ip", "10.0.0.1", "--serving-key-file", existing}, "already exists"},
	} {
		r := runCLI(t, append(tc.args, "--kubeconfig", none)...)
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%v = exit %d, %v; want exit 1 with %q", tc.args, r.code, r.err, tc.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Errorf("%s was changed to %q", existing, b)
	}
}

// TestNodeAddByTheNodeItself runs "node add" with the node's own
// credentials and no --approve: the server's kubelet auto-approver
// (selfnodeclient) approves it, as it does a kubelet's rotation.
func TestNodeAddByTheNodeItself(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	node := srv.KubeconfigFor("system:node:worker-2", "system:nodes")
	out := filepath.Join(t.TempDir(), "kubelet.conf")
	r := runCLI(t, "node", "add", "worker-2", "--kubeconfig", node, "-o", out, "--timeout", "1m")
	if r.code != 0 {
		t.Fatalf("node add by the node = exit %d, %v", r.code, r.err)
	}
	if who := kubectlWhoami(t, out); !regexp.MustCompile(`(?m)^Username\s+system:node:worker-2$`).MatchString(who) {
		t.Errorf("kubectl auth whoami = %q, want system:node:worker-2", who)
	}
}

// TestNodeAddAutoApprovedForAdmin: a cluster admin's node add without
// --approve against kubepki serve (admin.conf, group kubeadm:cluster-admins)
// is approved at once by the kubelet client auto-approver, since RBAC lets
// the admin create certificatesigningrequests/nodeclient, as
// kube-controller-manager's csrapproving does; the help says so rather
// than that the request waits.
func TestNodeAddAutoApprovedForAdmin(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startServe(t, dir)
	defer stop()
	admin := filepath.Join(dir, "admin.conf")
	out := filepath.Join(t.TempDir(), "kubelet.conf")
	if r := runCLI(t, "node", "add", "worker-3", "--kubeconfig", admin, "-o", out, "--timeout", "1m"); r.code != 0 {
		t.Fatalf("node add by an admin without --approve = exit %d, %v", r.code, r.err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d CSRs, want 1", len(list.Items))
	}
	var reasons []string
	for _, c := range list.Items[0].Status.Conditions {
		if c.Type == certv1.CertificateApproved {
			reasons = append(reasons, c.Reason)
		}
	}
	if !slices.Equal(reasons, []string{"AutoApproved"}) {
		t.Errorf("Approved condition reasons = %v, want [AutoApproved]", reasons)
	}

	help := runCLI(t, "node", "add", "--help").stdout
	for _, want := range []string{"AutoApproved", "certificatesigningrequests/nodeclient", "certificatesigningrequests/selfnodeclient", "waits", "Approving and waiting retry"} {
		if !strings.Contains(help, want) {
			t.Errorf("node add --help does not mention %q", want)
		}
	}
	if strings.Contains(help, "only approves a node's own requests") {
		t.Error("node add --help still says the auto-approver only approves a node's own requests")
	}
}

// TestEnrollRefusesUnsafeOutputFirst: with --force, a symlink or a folder
// at an output path is refused before any request is created, so no
// credential is issued only to be thrown away.
func TestEnrollRefusesUnsafeOutputFirst(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.conf")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	free := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{name: "user symlink", args: []string{"user", "add", "jane", "-o", link}, wantMsg: "write kubeconfig: write " + link + ": path is a symlink or not a regular file; remove it or choose another path"},
		{name: "user folder", args: []string{"user", "add", "jane", "-o", folder}, wantMsg: "write kubeconfig: write " + folder + ": path is a symlink"},
		{name: "node kubeconfig folder", args: []string{"node", "add", "n1", "-o", folder}, wantMsg: "write kubeconfig: write " + folder},
		{name: "node serving cert symlink", args: []string{"node", "add", "n1", "-o", free("n1.conf"), "--ip", "10.0.0.1", "--serving-cert-file", link, "--serving-key-file", free("n1.key")}, wantMsg: "write " + link},
		{name: "node serving key folder", args: []string{"node", "add", "n1", "-o", free("n2.conf"), "--ip", "10.0.0.1", "--serving-cert-file", free("n2.crt"), "--serving-key-file", folder}, wantMsg: "write " + folder},
	}
	for _, tc := range tests {
		r := runCLI(t, append(tc.args, "--force", "--approve", "--timeout", "30s", "--kubeconfig", admin)...)
		if r.code != 1 || !errors.Is(r.err, pki.ErrUnsafePath) || !strings.Contains(r.err.Error(), tc.wantMsg) {
			t.Errorf("%s: %v = exit %d, %v; want exit 1 with %q", tc.name, tc.args, r.code, r.err, tc.wantMsg)
		}
		if names := listCSRs(t, client); len(names) != 0 {
			t.Fatalf("%s: CSRs created before the output path was refused: %v", tc.name, names)
		}
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("the symlink's target %s was written", target)
	}
	for _, p := range []string{free("n1.conf"), free("n1.key"), free("n2.conf"), free("n2.crt")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written although the command was refused", p)
		}
	}
}

// TestUserAddDefaultOutput: the default kubeconfig file is named from the
// sanitised user name, never a path the name spells out; -o is taken as
// given.
func TestUserAddDefaultOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		output string
		want   string
	}{
		{name: "jane", want: "jane.conf"},
		{name: "a/b", want: "a-b.conf"},
		{name: "../x", want: "x.conf"},
		{name: "/etc/passwd", want: "etc-passwd.conf"},
		{name: ".hidden", want: "hidden.conf"},
		{name: `..\..\x`, want: "x.conf"},
		{name: "Jane.Doe@Example.COM", want: "jane-doe-example-com.conf"},
		{name: "../x", output: "../x.conf", want: "../x.conf"},
	}
	for _, tc := range tests {
		o := &userAddOptions{}
		o.output = tc.output
		if err := o.Complete([]string{tc.name}); err != nil {
			t.Fatal(err)
		}
		if o.output != tc.want {
			t.Errorf("user add %q (-o %q): output = %q, want %q", tc.name, tc.output, o.output, tc.want)
		}
	}
	// A name with nothing to keep needs -o; it is a usage error, checked
	// before any file or server is looked at.
	r := runCLI(t, "user", "add", "@@@", "--kubeconfig", filepath.Join(t.TempDir(), "none.conf"))
	if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), "pass -o FILE") {
		t.Errorf("user add @@@ = exit %d, %v; want exit 2 asking for -o", r.code, r.err)
	}
	help := runCLI(t, "user", "add", "--help").stdout
	if !strings.Contains(help, `"../x" writes x.conf`) {
		t.Errorf("user add --help does not describe how the default file is named:\n%s", help)
	}
	for _, want := range []string{"or the kubeconfig cannot be written, nothing is written and the request is\ndeleted again", "While approving and waiting"} {
		if !strings.Contains(help, want) {
			t.Errorf("user add --help does not say %q:\n%s", want, help)
		}
	}
}

// restartingProxy forwards TCP connections to a server on loopback.
// Stop closes its listener and every forwarded connection, as an API
// server that goes down does (open watches end, new connections are
// refused); Start listens on the same address again.
type restartingProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startRestartingProxy(t *testing.T, target string) *restartingProxy {
	t.Helper()
	p := &restartingProxy{t: t, addr: "127.0.0.1:0", target: target, conns: map[net.Conn]bool{}}
	p.Start()
	t.Cleanup(func() { p.Stop(); p.wg.Wait() })
	return p
}

// Start listens on the proxy's address (a free port the first time).
func (p *restartingProxy) Start() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port is being released
	}
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *restartingProxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// Stop closes the listener and every forwarded connection.
func (p *restartingProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

// kubeconfigVia writes a kubeconfig for user that reaches srv at addr.
func kubeconfigVia(t *testing.T, srv *apiservertest.Server, addr, user string, groups ...string) string {
	t.Helper()
	certPEM, keyPEM := srv.ClientCert(user, groups...)
	path := filepath.Join(t.TempDir(), "via.conf")
	if err := kubeconfig.Write(path, kubeconfig.NewCertConfig("kubepki", "https://"+addr, srv.CAPEM, user, certPEM, keyPEM)); err != nil {
		t.Fatal(err)
	}
	return path
}

// approveCSR approves name as the admin, as an approver would.
func approveCSR(t *testing.T, client certclient.CertificateSigningRequestInterface, name string) {
	t.Helper()
	c, err := client.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Status.Conditions = append(c.Status.Conditions, certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
	if _, err := client.UpdateApproval(t.Context(), name, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestUserAddSurvivesServerRestart: the API server goes away while the
// command waits (the open watch is dropped, new connections are refused)
// and comes back; the command retries until --timeout, and the request
// approved after the outage yields the kubeconfig.
func TestUserAddSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	proxy := startRestartingProxy(t, strings.TrimPrefix(srv.URL, "https://"))
	via := kubeconfigVia(t, srv, proxy.addr, apiservertest.AdminUser, apiservertest.AdminGroup)
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	out := filepath.Join(t.TempDir(), "jane.conf")

	var stdout, stderr serveBuffer
	result := make(chan error, 1)
	go func() {
		c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr})
		c.SetArgs([]string{"user", "add", "jane", "--kubeconfig", via, "-o", out, "--timeout", "60s"})
		result <- c.ExecuteContext(t.Context())
	}()
	csr := waitForCSR(t.Context(), t, client)
	if csr == nil {
		t.FailNow()
	}
	proxy.Stop()
	// Down until the command has reported a failed reconnection.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "retrying in") {
		select {
		case err := <-result:
			t.Fatalf("user add ended while the server was away: exit %d, %v; stderr %q", ExitCode(err), err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("user add reported no retry within 30s; stderr %q", stderr.String())
		}
	}
	proxy.Start()
	approveCSR(t, client, csr.Name)
	if err := <-result; err != nil {
		t.Fatalf("user add after the outage = exit %d, %v; stderr %q", ExitCode(err), err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "warning: waiting for CertificateSigningRequest "+csr.Name) {
		t.Errorf("stderr = %q, want the outage reported with the request's name", stderr.String())
	}
	if _, err := kubeconfig.Read(out); err != nil {
		t.Errorf("kubeconfig after the outage: %v", err)
	}
}

// TestUserAddPollsWithoutWatch: an identity that may create and get
// requests but not watch them polls with GET.
func TestUserAddPollsWithoutWatch(t *testing.T) {
	t.Parallel()
	policy := apiserver.DefaultPolicy()
	policy.ClusterRoles = append(policy.ClusterRoles, rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-getter"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}}},
	})
	policy.ClusterRoleBindings = append(policy.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-getters"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "csr-getter"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "getters"}},
	})
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true, Policy: policy})
	paula := srv.KubeconfigFor("paula", "getters")
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	out := filepath.Join(t.TempDir(), "paula.conf")
	result := make(chan cliResult, 1)
	go func() {
		result <- runCLI(t, "user", "add", "paula", "--kubeconfig", paula, "-o", out, "--timeout", "60s")
	}()
	csr := waitForCSR(t.Context(), t, client)
	if csr == nil {
		t.FailNow()
	}
	approveCSR(t, client, csr.Name)
	r := <-result
	if r.code != 0 {
		t.Fatalf("user add without watch permission = exit %d, %v; stderr %q", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "may not watch") {
		t.Errorf("stderr = %q, want the fallback to polling reported", r.stderr)
	}
	if _, err := kubeconfig.Read(out); err != nil {
		t.Error(err)
	}
}

// TestUserAddCannotRead: an identity that may create requests but not
// read them is refused before anything is created, by user add and node
// add alike, so that no pending request is left for an approver to
// approve by mistake.
func TestUserAddCannotRead(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	bob := srv.KubeconfigFor("bob", "dev")
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "bob2", "-o", filepath.Join(dir, "bob2.conf")}, `may not get certificatesigningrequests.certificates.k8s.io "kubepki-user-bob2-`},
		{[]string{"node", "add", "jn", "-o", filepath.Join(dir, "jn.conf")}, `may not get certificatesigningrequests.certificates.k8s.io "kubepki-node-system-node-jn-`},
	} {
		r := runCLI(t, append(tc.args, "--kubeconfig", bob, "--timeout", "60s")...)
		if r.code != 1 || r.err == nil {
			t.Fatalf("%v as bob = exit %d, %v; want exit 1", tc.args, r.code, r.err)
		}
		for _, want := range []string{tc.want, "nothing was created", "may create, get and watch certificatesigningrequests"} {
			if !strings.Contains(r.err.Error(), want) {
				t.Errorf("%v: error %q does not say %q", tc.args, r.err, want)
			}
		}
		if names := listCSRs(t, admin); len(names) != 0 {
			t.Errorf("%v: CSRs %v left behind, want none created", tc.args, names)
		}
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "connection refused", err: &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, want: true},
		{name: "connection reset", err: &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: syscall.ECONNRESET}, want: true},
		{name: "EOF", err: io.ErrUnexpectedEOF, want: true},
		{name: "503", err: apierrors.NewServiceUnavailable("restarting"), want: true},
		{name: "500", err: apierrors.NewInternalError(errors.New("boom")), want: true},
		{name: "429", err: apierrors.NewTooManyRequests("slow down", 2), want: true},
		{name: "504", err: apierrors.NewTimeoutError("slow", 1), want: true},
		{name: "403", err: apierrors.NewForbidden(gr, "x", errors.New("no")), want: false},
		{name: "404", err: apierrors.NewNotFound(gr, "x"), want: false},
		{name: "401", err: apierrors.NewUnauthorized("who"), want: false},
		{name: "422", err: apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "CertificateSigningRequest"}, "x", nil), want: false},
		{name: "untrusted server", err: &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, want: false},
		{name: "cancelled", err: context.Canceled, want: false},
	}
	for _, tc := range tests {
		if got := isTransient(tc.err); got != tc.want {
			t.Errorf("isTransient(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// waitForSigner polls until the server holds a CSR for signer.
func waitForSigner(t *testing.T, client certclient.CertificateSigningRequestInterface, signer string) *certv1.CertificateSigningRequest {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := client.List(t.Context(), metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				if list.Items[i].Spec.SignerName == signer {
					return &list.Items[i]
				}
			}
		}
		select {
		case <-t.Context().Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Errorf("no CSR for %s appeared within 30s", signer)
	return nil
}

// TestNodeAddAllOrNothing: when a later step of node add fails (the
// serving request is denied, or the kubeconfig path is taken while the
// command waits), no file is written, none of the files that were there
// is changed, and the requests it created are deleted.
func TestNodeAddAllOrNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// during runs while the serving request waits; it returns what
		// the error must say.
		during func(t *testing.T, client certclient.CertificateSigningRequestInterface, csr *certv1.CertificateSigningRequest, out string) string
	}{
		{name: "serving request denied", during: func(t *testing.T, client certclient.CertificateSigningRequestInterface, csr *certv1.CertificateSigningRequest, _ string) string {
			csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "TestDeny"})
			if _, err := client.UpdateApproval(t.Context(), csr.Name, csr, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
			return "was denied"
		}},
		{name: "kubeconfig appears while waiting", during: func(t *testing.T, client certclient.CertificateSigningRequestInterface, csr *certv1.CertificateSigningRequest, out string) string {
			if err := os.WriteFile(out, []byte("theirs"), 0o600); err != nil {
				t.Error(err)
			}
			approveCSR(t, client, csr.Name)
			return "appeared while waiting"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			dir := t.TempDir()
			out := filepath.Join(dir, "kubelet.conf")
			crt, key := filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
			result := make(chan cliResult, 1)
			// Without --approve: the test approves the client request,
			// then acts while the serving request waits.
			go func() {
				result <- runCLI(t, "node", "add", "worker-5", "--ip", "10.0.0.5", "--kubeconfig", admin, "-o", out,
					"--serving-cert-file", crt, "--serving-key-file", key, "--timeout", "60s")
			}()
			kubelet := waitForSigner(t, client, certv1.KubeAPIServerClientKubeletSignerName)
			if kubelet == nil {
				t.FailNow()
			}
			if !hasCondition(kubelet, certv1.CertificateApproved) {
				approveCSR(t, client, kubelet.Name)
			}
			csr := waitForSigner(t, client, certv1.KubeletServingSignerName)
			if csr == nil {
				t.FailNow()
			}
			want := tc.during(t, client, csr, out)
			r := <-result
			if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), want) {
				t.Fatalf("node add = exit %d, %v; want exit 1 with %q", r.code, r.err, want)
			}
			for _, p := range []string{crt, key} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written although node add failed", p)
				}
			}
			if b, err := os.ReadFile(out); err == nil && string(b) != "theirs" {
				t.Errorf("%s was written although node add failed", out)
			}
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the failure: %v, want the ones node add created deleted", names)
			}
		})
	}
}
