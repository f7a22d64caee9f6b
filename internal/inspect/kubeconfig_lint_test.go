package inspect_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestLintKubeconfigCredentials damages the kubeconfig files of a fresh
// init with stock kubectl, as a person following a guide would, and shows
// the finding each gets, under the entry at fault, with a fix that works:
// the kubectl command of the fix is run and lint is clean again.
func TestLintKubeconfigCredentials(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	tests := []struct {
		name string
		// damage and repair are kubectl arguments after --kubeconfig
		// scheduler.conf; {pki} is the certificate folder.
		damage, repair []string
		wantSource     string // under scheduler.conf
		want           string
		wantSeverity   inspect.Severity
		wantFix        []string // in the fix
		unwantedFix    []string
	}{
		{name: "front-proxy CA embedded as the cluster's CA",
			damage:     []string{"config", "set-cluster", "kubernetes", "--certificate-authority", "{pki}/front-proxy-ca.crt", "--embed-certs"},
			wantSource: "#clusters/kubernetes", want: inspect.RuleKubeconfigWrongCA, wantSeverity: inspect.SeverityError,
			wantFix: []string{"kubepki certs renew scheduler.conf --cert-dir {pki} --kubeconfig-dir {kc}", "config set-cluster kubernetes --certificate-authority {pki}/ca.crt --embed-certs"}},
		{name: "etcd CA embedded as the cluster's CA",
			damage:     []string{"config", "set-cluster", "kubernetes", "--certificate-authority", "{pki}/etcd/ca.crt", "--embed-certs"},
			wantSource: "#clusters/kubernetes", want: inspect.RuleKubeconfigWrongCA, wantSeverity: inspect.SeverityError,
			wantFix: []string{"config set-cluster kubernetes --certificate-authority {pki}/ca.crt --embed-certs"}},
		{name: "client certificate path next to its data",
			damage:     []string{"config", "set", "users.system:kube-scheduler.client-certificate", "{pki}/apiserver-kubelet-client.crt"},
			repair:     []string{"config", "unset", "users.system:kube-scheduler.client-certificate"},
			wantSource: "", want: inspect.RuleKubeconfigBoth, wantSeverity: inspect.SeverityError,
			wantFix: []string{"delete the client-certificate line of user system:kube-scheduler", "set-credentials system:kube-scheduler --client-certificate {pki}/apiserver-kubelet-client.crt --embed-certs"}},
		{name: "CA path next to its data",
			damage:     []string{"config", "set", "clusters.kubernetes.certificate-authority", "{pki}/ca.crt"},
			repair:     []string{"config", "unset", "clusters.kubernetes.certificate-authority"},
			wantSource: "", want: inspect.RuleKubeconfigBoth, wantSeverity: inspect.SeverityError,
			wantFix: []string{"set-cluster kubernetes --certificate-authority {pki}/ca.crt --embed-certs"}},
		{name: "missing CA file",
			damage:     []string{"config", "set-cluster", "kubernetes", "--certificate-authority", "{pki}/gone/ca.crt"},
			repair:     []string{"config", "set-cluster", "kubernetes", "--certificate-authority", "{pki}/ca.crt", "--embed-certs"},
			wantSource: "#clusters/kubernetes", want: inspect.RuleKubeconfigMissingFile, wantSeverity: inspect.SeverityError,
			wantFix: []string{"set-cluster kubernetes --certificate-authority FILE --embed-certs"}, unwantedFix: []string{"set-credentials"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := initCluster(t, "")
			conf := filepath.Join(opts.KubeconfigDir, "scheduler.conf")
			expand := strings.NewReplacer("{pki}", opts.CertDir, "{kc}", opts.KubeconfigDir).Replace
			runKubectl := func(args []string) {
				t.Helper()
				full := []string{"--kubeconfig", conf}
				for _, a := range args {
					full = append(full, expand(a))
				}
				cmd := exec.CommandContext(t.Context(), kubectl, full...)
				cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG=")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("kubectl %s: %v\n%s", strings.Join(full, " "), err, out)
				}
			}
			lint := func() []inspect.Finding {
				t.Helper()
				rep, err := inspect.Lint([]string{opts.KubeconfigDir}, inspect.LintOptions{Context: inspect.Context{APIServerAddresses: []string{opts.AdvertiseAddress}}})
				if err != nil {
					t.Fatal(err)
				}
				return rep.Findings
			}
			runKubectl(tc.damage)

			fs := lint()
			for _, f := range fs {
				t.Logf("%s %s %s: %s\n\tfix: %s", f.Severity, f.Rule, f.Source, f.Message, f.Fix)
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want exactly one %s", len(fs), tc.want)
			}
			f := fs[0]
			if f.Rule != tc.want || f.Severity != tc.wantSeverity || f.Source != conf+tc.wantSource {
				t.Errorf("finding %s %s under %s, want %s %s under %s", f.Severity, f.Rule, f.Source, tc.wantSeverity, tc.want, conf+tc.wantSource)
			}
			for _, w := range tc.wantFix {
				if !strings.Contains(f.Fix, expand(w)) {
					t.Errorf("fix %q lacks %q", f.Fix, expand(w))
				}
			}
			for _, w := range tc.unwantedFix {
				if strings.Contains(f.Fix, w) {
					t.Errorf("fix %q has %q", f.Fix, w)
				}
			}

			repair := tc.repair
			if repair == nil {
				// The kubectl command the fix gives.
				_, cmd, ok := strings.Cut(f.Fix, "kubectl --kubeconfig "+conf+" ")
				if !ok {
					t.Fatalf("fix %q has no kubectl command for %s", f.Fix, conf)
				}
				repair = strings.Fields(cmd)
			}
			runKubectl(repair)
			for _, f := range lint() {
				t.Errorf("after the fix, %s %s remains: %s", f.Rule, f.Source, f.Message)
			}
		})
	}
}
