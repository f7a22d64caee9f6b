package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// approverPolicy lets the group "approvers" approve example.com/signer
// requests, on top of the defaults.
const approverPolicy = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: example-approver}
rules:
- {verbs: [get, list, watch], apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests]}
- {verbs: [update], apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval]}
- {verbs: [approve], apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: [example.com/signer]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: example-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: example-approver}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: approvers}]
`

// authKubectl runs the real kubectl against kubeconfig with a private
// HOME and discovery cache, returning stdout, stderr and the exit code.
func authKubectl(t *testing.T, home, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, pkitest.RequireTool(t, "kubectl"), args...)
	c.Env = append(os.Environ(), "HOME="+home, "KUBECACHEDIR="+filepath.Join(home, "cache"), "KUBECONFIG="+kubeconfig)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errOut.String(), 0
}

// TestKubectlAuth checks that kubectl auth whoami, can-i and can-i --list
// answer truthfully from the policy, through the real kubectl (which sends
// protobuf bodies for these).
func TestKubectlAuth(t *testing.T) {
	t.Parallel()
	pkitest.RequireTool(t, "kubectl")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(approverPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := apiserver.LoadPolicyFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := apiservertest.Start(t, apiservertest.Options{Policy: policy})
	jane := srv.KubeconfigFor("jane", "dev")
	amy := srv.KubeconfigFor("amy", "approvers")
	home := t.TempDir()

	t.Run("whoami", func(t *testing.T) {
		out, errOut, code := authKubectl(t, home, jane, "auth", "whoami")
		if code != 0 {
			t.Fatalf("kubectl auth whoami: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"Username", "jane", "Groups", "[dev system:authenticated]"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl auth whoami printed %q, want it to contain %q", out, want)
			}
		}
		out, errOut, code = authKubectl(t, home, jane, "auth", "whoami", "-o", "json")
		if code != 0 {
			t.Fatalf("kubectl auth whoami -o json: exit %d\n%s", code, errOut)
		}
		var review struct {
			Status struct {
				UserInfo struct {
					Username string              `json:"username"`
					Groups   []string            `json:"groups"`
					Extra    map[string][]string `json:"extra"`
				} `json:"userInfo"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &review); err != nil {
			t.Fatalf("decode whoami JSON %q: %v", out, err)
		}
		ui := review.Status.UserInfo
		if ui.Username != "jane" || !cmp.Equal(ui.Groups, []string{"dev", apiserver.GroupAuthenticated}) ||
			len(ui.Extra[apiserver.ExtraCredentialID]) != 1 {
			t.Errorf("whoami user = %+v, want jane [dev system:authenticated] with a credential id", ui)
		}
	})

	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		want       string // first word printed
		wantCode   int
	}{
		{"user may create csr", jane, []string{"create", "csr"}, "yes", 0},
		{"user may not list csr", jane, []string{"list", "csr"}, "no", 1},
		{"user may not approve", jane, []string{"update", "csr", "--subresource=approval"}, "no", 1},
		{"approver may update approval", amy, []string{"update", "csr", "--subresource=approval"}, "yes", 0},
		{"approver may not update status", amy, []string{"update", "csr", "--subresource=status"}, "no", 1},
		{"approver may approve its signer", amy, []string{"approve", "signers.certificates.k8s.io/example.com/signer"}, "yes", 0},
		{"approver may not approve another signer", amy, []string{"approve", "signers.certificates.k8s.io/kubernetes.io/kube-apiserver-client"}, "no", 1},
		{"user may get /healthz", jane, []string{"get", "/healthz"}, "yes", 0},
		{"user may not get /metrics", jane, []string{"get", "/metrics"}, "no", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"auth", "can-i"}, tc.args...)
			out, errOut, code := authKubectl(t, home, tc.kubeconfig, args...)
			fields := strings.Fields(out)
			if code != tc.wantCode || len(fields) == 0 || fields[0] != tc.want {
				t.Errorf("kubectl %s: exit %d, stdout %q (stderr %q); want %q, exit %d",
					strings.Join(args, " "), code, out, errOut, tc.want, tc.wantCode)
			}
		})
	}

	t.Run("can-i --list", func(t *testing.T) {
		out, errOut, code := authKubectl(t, home, amy, "auth", "can-i", "--list")
		if code != 0 {
			t.Fatalf("kubectl auth can-i --list: exit %d\n%s%s", code, out, errOut)
		}
		var signerLine, csrLine bool
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "signers.certificates.k8s.io" && f[1] == "[]" && f[2] == "[example.com/signer]" && strings.Contains(line, "[approve]") {
				signerLine = true
			}
			if len(f) >= 1 && f[0] == "certificatesigningrequests.certificates.k8s.io/approval" && strings.Contains(line, "[update]") {
				csrLine = true
			}
		}
		if !signerLine || !csrLine {
			t.Errorf("kubectl auth can-i --list printed\n%s\nwant the approve signers and update approval rows", out)
		}
		if strings.Contains(out, "[*]") {
			t.Errorf("kubectl auth can-i --list lists a wildcard rule for a non-admin:\n%s", out)
		}
	})
}
