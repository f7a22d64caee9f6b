package apiserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// kubectlRunner runs the real kubectl with its own HOME and cache.
type kubectlRunner struct {
	t    *testing.T
	path string
	home string
}

func newKubectl(t *testing.T) *kubectlRunner {
	t.Helper()
	return &kubectlRunner{t: t, path: pkitest.RequireTool(t, "kubectl"), home: t.TempDir()}
}

func (k *kubectlRunner) cmd(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, k.path, args...)
	c.Env = append(os.Environ(), "HOME="+k.home, "KUBECACHEDIR="+filepath.Join(k.home, "cache"),
		"KUBECONFIG="+kubeconfig)
	return c
}

// run runs kubectl to completion and returns stdout, stderr and the exit code.
func (k *kubectlRunner) run(kubeconfig string, args ...string) (string, string, int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.t.Context(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	c := k.cmd(ctx, kubeconfig, args...)
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs kubectl and fails the test unless it exits 0.
func (k *kubectlRunner) ok(kubeconfig string, args ...string) string {
	k.t.Helper()
	out, errOut, code := k.run(kubeconfig, args...)
	if code != 0 {
		k.t.Fatalf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if cond() {
			return
		}
		if time.Now().After(deadline) || i > 3000 {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	bin := pkitest.RequireTool(t, "openssl")
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func csrManifest(name string, csrPEM []byte, signer string) string {
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
  labels:
    team: blue
spec:
  request: %s
  signerName: %s
  expirationSeconds: 86400
  usages:
  - client auth
`, name, base64.StdEncoding.EncodeToString(csrPEM), signer)
}

func TestKubectlWorkflow(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	pkitest.RequireTool(t, "openssl")
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	dir := t.TempDir()
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)

	if out := kubectl.ok(admin, "version"); !strings.Contains(out, "Server Version: v1.32") {
		t.Errorf("kubectl version = %q, want Server Version v1.32", out)
	}
	if out := kubectl.ok(admin, "api-resources"); !strings.Contains(out, "certificatesigningrequests") || !strings.Contains(out, "csr") {
		t.Errorf("kubectl api-resources = %q, want the csr resource", out)
	}

	// The new user makes a key and a CSR with openssl.
	keyFile, csrFile := filepath.Join(dir, "jane.key"), filepath.Join(dir, "jane.csr")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile)
	openssl(t, "req", "-new", "-key", keyFile, "-subj", "/CN=jane/O=dev/O=ops", "-out", csrFile)
	csrData, err := os.ReadFile(csrFile)
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "jane.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest("jane", csrData, certv1.KubeAPIServerClientSignerName)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl.ok(admin, "create", "-f", manifest); !strings.Contains(out, "certificatesigningrequest.certificates.k8s.io/jane created") {
		t.Errorf("kubectl create = %q", out)
	}
	if out := kubectl.ok(admin, "get", "csr"); !strings.Contains(out, "CONDITION") || !rowHas(out, "jane", "Pending") ||
		!rowHas(out, "jane", certv1.KubeAPIServerClientSignerName) || !rowHas(out, "jane", "24h") {
		t.Errorf("kubectl get csr = %q, want jane Pending with the CSR columns", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "--show-labels"); !rowHas(out, "jane", "team=blue") {
		t.Errorf("kubectl get csr --show-labels = %q, want team=blue", out)
	}

	// Watch from the start: kubectl get csr -w must print the transitions.
	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	var watchOut syncBuffer
	watchCmd := kubectl.cmd(watchCtx, admin, "get", "csr", "jane", "-w")
	watchCmd.Stdout, watchCmd.Stderr = &watchOut, &watchOut
	if err := watchCmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watch to print jane Pending", func() bool { return rowHas(watchOut.String(), "jane", "Pending") })

	if out := kubectl.ok(admin, "certificate", "approve", "jane"); !strings.Contains(out, "certificatesigningrequest.certificates.k8s.io/jane approved") {
		t.Errorf("kubectl certificate approve = %q", out)
	}
	waitFor(t, "jane Approved,Issued", func() bool {
		out, _, _ := kubectl.run(admin, "get", "csr", "jane")
		return rowHas(out, "jane", "Approved,Issued")
	})
	waitFor(t, "the watch to print jane Approved,Issued", func() bool {
		return rowHas(watchOut.String(), "jane", "Approved,Issued")
	})
	stopWatch()
	_ = watchCmd.Wait()
	if !rowHas(watchOut.String(), "jane", "Approved") {
		t.Errorf("kubectl get csr -w printed %q, want the Approved transition", watchOut.String())
	}

	b64 := kubectl.ok(admin, "get", "csr", "jane", "-o", "jsonpath={.status.certificate}")
	certPEM, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		t.Fatalf("base64 -d of the certificate: %v (%q)", err, b64)
	}
	certFile, caFile := filepath.Join(dir, "jane.crt"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := openssl(t, "verify", "-CAfile", caFile, certFile); !strings.Contains(out, "OK") {
		t.Errorf("openssl verify = %q, want OK", out)
	}

	// The user's own whoami, with flags only.
	empty := filepath.Join(dir, "empty-kubeconfig")
	out := kubectl.ok(empty, "auth", "whoami", "--server", srv.URL, "--client-key", keyFile,
		"--client-certificate", certFile, "--certificate-authority", caFile)
	if !strings.Contains(out, "jane") || !strings.Contains(out, "[dev ops system:authenticated]") {
		t.Errorf("kubectl auth whoami = %q, want jane with groups [dev ops system:authenticated]", out)
	}

	if out := kubectl.ok(admin, "describe", "csr", "jane"); !strings.Contains(out, "Approved,Issued") ||
		!strings.Contains(out, "Requesting User:") || !strings.Contains(out, "Common Name:    jane") {
		t.Errorf("kubectl describe csr = %q", out)
	}

	// Deny another request.
	bobManifest := filepath.Join(dir, "bob.yaml")
	if err := os.WriteFile(bobManifest, []byte(csrManifest("bob", csrPEM(t, "bob"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.ok(admin, "create", "-f", bobManifest)
	// jane, authenticated by her new certificate, may not approve it.
	janeConf := filepath.Join(dir, "jane.conf")
	kubectl.ok(janeConf, "config", "set-cluster", "k", "--server", srv.URL, "--certificate-authority", caFile)
	kubectl.ok(janeConf, "config", "set-credentials", "jane", "--client-certificate", certFile, "--client-key", keyFile)
	kubectl.ok(janeConf, "config", "set-context", "k", "--cluster", "k", "--user", "jane")
	kubectl.ok(janeConf, "config", "use-context", "k")
	_, errOut, code := kubectl.run(janeConf, "certificate", "approve", "bob")
	if code != 1 || !strings.Contains(errOut, "Error from server (Forbidden)") {
		t.Errorf("jane: kubectl certificate approve bob = exit %d, stderr %q, want Forbidden", code, errOut)
	}
	if out := kubectl.ok(admin, "certificate", "deny", "bob"); !strings.Contains(out, "denied") {
		t.Errorf("kubectl certificate deny = %q", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "bob"); !rowHas(out, "bob", "Denied") {
		t.Errorf("kubectl get csr bob = %q, want Denied", out)
	}
	_, errOut, code = kubectl.run(admin, "certificate", "approve", "bob")
	if code != 1 || !strings.Contains(errOut, "already Denied") {
		t.Errorf("approve a denied CSR = exit %d, stderr %q", code, errOut)
	}

	if out := kubectl.ok(admin, "delete", "csr", "bob"); !strings.Contains(out, `"bob" deleted`) {
		t.Errorf("kubectl delete csr = %q", out)
	}
	_, errOut, code = kubectl.run(admin, "get", "csr", "bob")
	if code != 1 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("kubectl get deleted csr = exit %d, stderr %q, want NotFound", code, errOut)
	}
}

// rowHas reports whether a line of out starts with name and contains want.
func rowHas(out, name, want string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, name+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}
