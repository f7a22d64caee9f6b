package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestLintKubeconfigWrongCAFixWorks embeds the front-proxy CA as
// scheduler.conf's cluster CA with stock kubectl, and shows that lint
// blames the CA data (L47), not the client certificate, and that the
// kubepki command its fix gives makes lint clean again.
func TestLintKubeconfigWrongCAFixWorks(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	dir := initDir(t)
	conf := filepath.Join(dir, "scheduler.conf")
	cmd := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", conf, "config", "set-cluster", "kubernetes",
		"--certificate-authority", filepath.Join(dir, "pki", "front-proxy-ca.crt"), "--embed-certs")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl config set-cluster: %v\n%s", err, out)
	}

	out, errOut, code := runInspectCLI(t, "", "lint", "-o", "json", dir)
	if code != 1 {
		t.Fatalf("lint exit %d, want 1; stderr %q", code, errOut)
	}
	var rep inspect.LintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Rule != inspect.RuleKubeconfigWrongCA || rep.Findings[0].Source != conf+"#clusters/kubernetes" {
		t.Fatalf("findings %+v, want one L47 under %s#clusters/kubernetes", rep.Findings, conf)
	}
	fix, _, ok := strings.Cut(rep.Findings[0].Fix, " rewrites")
	if !ok || !strings.HasPrefix(fix, "kubepki certs renew scheduler.conf") {
		t.Fatalf("fix %q does not start with a kubepki certs renew command", rep.Findings[0].Fix)
	}
	if _, errOut, code := execPKI(t, strings.Fields(fix)[1:]...); code != 0 {
		t.Fatalf("%s: exit %d: %s", fix, code, errOut)
	}
	if out, errOut, code := runInspectCLI(t, "", "lint", dir); code != 0 {
		t.Errorf("lint after %q: exit %d\n%s%s", fix, code, out, errOut)
	}
}

// TestConfigCheckBothFileAndData adds a client-certificate path to a
// kubeconfig that embeds its certificate, as "kubectl config set" does, and
// shows that config check fails it and lint reports an error, as kubectl
// refuses to use it.
func TestConfigCheckBothFileAndData(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	dir := initDir(t)
	conf := filepath.Join(dir, "admin.conf")
	cmd := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", conf, "config", "set", "users.kubernetes-admin.client-certificate", filepath.Join(dir, "pki", "apiserver-kubelet-client.crt"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl config set: %v\n%s", err, out)
	}
	r := runCLI(t, "config", "--kubeconfig", conf, "check")
	if r.code != 1 || !hasCheckLine(r.stdout, "fail", "credentials") || !strings.Contains(r.stdout, "client-cert-data and client-cert are both specified") {
		t.Errorf("config check = exit %d, stdout:\n%s\nwant exit 1 and a failed credentials check with kubectl's reason", r.code, r.stdout)
	}
	out, errOut, code := runInspectCLI(t, "", "lint", conf)
	if code != 1 || !strings.Contains(out, "ERROR   L31 "+conf) {
		t.Errorf("lint = exit %d, stdout:\n%s%s\nwant exit 1 and ERROR L31", code, out, errOut)
	}
}
