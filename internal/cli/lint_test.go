package cli

import (
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

func TestLintCommandList(t *testing.T) {
	t.Parallel()
	out, _, code := runInspectCLI(t, "", "lint", "--list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, r := range inspect.Rules() {
		if !strings.Contains(out, r.ID+" ") || !strings.Contains(out, r.Fix) {
			t.Errorf("--list lacks rule %s or its fix", r.ID)
		}
	}
	out, _, code = runInspectCLI(t, "", "lint", "--list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var list struct {
		Kind  string         `json:"kind"`
		Rules []inspect.Rule `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != inspect.RuleListKind || len(list.Rules) != len(inspect.Rules()) {
		t.Errorf("kind %q with %d rules, want %q with %d", list.Kind, len(list.Rules), inspect.RuleListKind, len(inspect.Rules()))
	}
}

func TestLintCommand(t *testing.T) {
	t.Parallel()
	clean, _ := inspectTestPKI(t)

	warn, ca := inspectTestPKI(t)
	if err := os.Chmod(filepath.Join(warn, "jane.key"), 0o640); err != nil {
		t.Fatal(err)
	}
	soon, soonKey := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "bob"}, Validity: 10 * 24 * time.Hour})
	pkitest.WritePair(t, warn, "bob", soon, soonKey)

	broken, _ := inspectTestPKI(t)
	other := pkitest.NewCA(t, "other")
	stranger, strangerKey := pkitest.ClientCert(t, other, "mallory")
	pkitest.WritePair(t, broken, "mallory", stranger, strangerKey)

	tests := []struct {
		name      string
		args      []string
		code      int
		wantRules []string
	}{
		{name: "clean", args: []string{clean}, code: 0},
		{name: "warnings only exit 0", args: []string{warn}, code: 0, wantRules: []string{inspect.RuleExpiringSoon, inspect.RuleKeyMode}},
		{name: "warn-within 0 disables the expiry warning", args: []string{"--warn-within", "0", warn}, code: 0, wantRules: []string{inspect.RuleKeyMode}},
		{name: "warn-within 1h", args: []string{"--warn-within", "1h", warn}, code: 0, wantRules: []string{inspect.RuleKeyMode}},
		{name: "fail on warnings", args: []string{"--fail-on", "warning", warn}, code: 1, wantRules: []string{inspect.RuleExpiringSoon, inspect.RuleKeyMode}},
		{name: "fail on warnings when clean", args: []string{"--fail-on", "warning", clean}, code: 0},
		{name: "error exits 1", args: []string{broken}, code: 1, wantRules: []string{inspect.RuleWrongCA}},
		{name: "advertise address not in the certificate", args: []string{"--advertise-address", "10.0.0.99", clean}, code: 1, wantRules: []string{inspect.RuleAPIServerAddress}},
		{name: "other service CIDR", args: []string{"--service-cidr", "10.100.0.0/16", clean}, code: 1, wantRules: []string{inspect.RuleAPIServerDefaultNames}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runInspectCLI(t, "", append([]string{"lint", "-o", "json"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errOut)
			}
			var rep inspect.LintReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			var got []string
			for _, f := range rep.Findings {
				if len(got) == 0 || got[len(got)-1] != f.Rule {
					got = append(got, f.Rule)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantRules, ",") {
				t.Errorf("rules %q, want %q", got, tc.wantRules)
			}
			// Every folder holds ca, apiserver and jane; warn and broken
			// one more pair.
			wantFiles := 6
			if tc.args[len(tc.args)-1] != clean {
				wantFiles = 8
			}
			if rep.Kind != inspect.LintReportKind || rep.Files != wantFiles {
				t.Errorf("kind %q, %d files read; want %q, %d", rep.Kind, rep.Files, inspect.LintReportKind, wantFiles)
			}
		})
	}
	t.Run("nothing to lint", func(t *testing.T) {
		t.Parallel()
		_, errOut, code := runInspectCLI(t, "", "lint", t.TempDir())
		if code != 1 || !strings.Contains(errOut, "found no certificate") {
			t.Errorf("exit %d, stderr %q; want 1 and a message that nothing was found", code, errOut)
		}
	})
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runInspectCLI(t, "", "lint", broken)
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(out, "ERROR   L21 "+filepath.Join(broken, "mallory.crt")) || !strings.Contains(out, "fix: reissue") || !strings.Contains(out, "1 error(s), 0 warning(s)") {
			t.Errorf("text output lacks the finding, its fix or the summary:\n%s", out)
		}
		if !strings.Contains(errOut, "lint found 1 error(s)") {
			t.Errorf("stderr %q lacks the summary", errOut)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"list with paths", []string{"lint", "--list", clean}, 2},
		{"bad service CIDR", []string{"lint", "--service-cidr", "10.96.0.0", clean}, 2},
		{"negative warn-within", []string{"lint", "--warn-within", "-1h", clean}, 2},
		{"bad fail-on", []string{"lint", "--fail-on", "info", clean}, 2},
		{"bad advertise address", []string{"lint", "--advertise-address", "cp1", clean}, 2},
		{"missing path", []string{"lint", filepath.Join(clean, "absent")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runInspectCLI(t, "", tc.args...)
			if code != tc.code || out != "" || errOut == "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout and a message", code, out, errOut, tc.code)
			}
		})
	}
}

// TestLintAfterInit runs kubepki init, with flags and with a cluster file
// (--config), and then kubepki lint on what it wrote: no finding.
func TestLintAfterInit(t *testing.T) {
	t.Parallel()
	clusterFile := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(clusterFile, []byte(`apiVersion: kubepki.io/v1alpha1
kind: Cluster
controlPlaneEndpoint: cp.example.org:6443
serviceCIDR: 10.100.0.0/16
controlPlaneNodes:
- name: cp1
  ips: [10.0.0.10]
workerNodes:
- name: w1
  ips: [10.0.1.1]
users:
- name: jane
  groups: [dev]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		initArgs, lint []string
	}{
		{"flags", []string{"--node-name", "cp1", "--advertise-address", "10.0.0.10"}, []string{"--advertise-address", "10.0.0.10"}},
		{"cluster file", []string{"--config", clusterFile}, []string{"--advertise-address", "10.0.0.10", "--control-plane-endpoint", "cp.example.org:6443", "--service-cidr", "10.100.0.0/16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, errOut, code := runInspectCLI(t, "", append([]string{"init", "--cert-dir", filepath.Join(dir, "pki"), "--kubeconfig-dir", dir}, tc.initArgs...)...)
			if code != 0 {
				t.Fatalf("init: exit %d: %s", code, errOut)
			}
			out, errOut, code := runInspectCLI(t, "", append(append([]string{"lint", "--fail-on", "warning"}, tc.lint...), dir)...)
			if code != 0 || !strings.HasPrefix(out, "no findings\n") {
				t.Errorf("lint: exit %d, stderr %q, output:\n%s", code, errOut, out)
			}
		})
	}
}
