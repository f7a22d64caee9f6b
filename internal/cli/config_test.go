package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// Fixture kubeconfig files for the kubectl comparison tests. {dir} is
// replaced by the test's directory. beta.conf redefines cluster "alpha" to
// exercise "first file wins", and carries a token to exercise redaction.
var configFixture = map[string]string{
	"alpha.conf": `apiVersion: v1
kind: Config
clusters:
- name: alpha
  cluster:
    server: https://alpha.example:6443
    certificate-authority: pki/ca.crt
users:
- name: alice
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
contexts:
- name: alice@alpha
  context:
    cluster: alpha
    user: alice
current-context: alice@alpha
`,
	"beta.conf": `apiVersion: v1
kind: Config
clusters:
- name: alpha
  cluster:
    server: https://shadowed.example:6443
- name: beta
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority-data: Q0E=
    tls-server-name: beta.internal
users:
- name: bob
  user:
    token: secret-token
- name: dana
  user:
    username: dana
    password: secret-password
contexts:
- name: bob@beta
  context:
    cluster: beta
    user: bob
    namespace: dev
`,
	"home/.kube/config": `apiVersion: v1
kind: Config
clusters:
- name: home
  cluster:
    server: https://home.example:6443
users:
- name: carol
  user:
    client-certificate: /etc/carol.crt
    client-key: /etc/carol.key
contexts:
- name: carol@home
  context:
    cluster: home
    user: carol
current-context: carol@home
`,
	"pki/ca.crt":   "CA-PEM\n",
	"pki/jane.crt": "JANE-CERT\n",
	"pki/jane.key": "JANE-KEY\n",
}

// writeConfigFixture writes configFixture into a fresh directory.
func writeConfigFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range configFixture {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "{dir}", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// snapshot returns every regular file under dir, keyed by relative path,
// with dir replaced by {dir}; lock files are ignored.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".lock") || strings.Contains(p, "/cache/") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		// kubectl 1.32 writes "preferences: {}", client-go 0.37 (which
		// kubepki writes with) omits the empty value; both read the same.
		s := strings.ReplaceAll(string(b), "preferences: {}\n", "")
		files[rel] = strings.ReplaceAll(s, dir, "{dir}")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// toolRun is the outcome of one command.
type toolRun struct {
	stdout, stderr string
	failed         bool
}

// runKubectl runs the real kubectl in dir with HOME=dir/home and the given
// KUBECONFIG ("" unsets it).
func runKubectl(t *testing.T, kubectl, dir, kubeconfigEnv string, args ...string) toolRun {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), kubectl, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"HOME=" + filepath.Join(dir, "home"),
		"KUBECACHEDIR=" + filepath.Join(t.TempDir(), "cache"),
		"PATH=" + os.Getenv("PATH"),
	}
	if kubeconfigEnv != "" {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+kubeconfigEnv)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run kubectl %v: %v", args, err)
	}
	return toolRun{stdout: out.String(), stderr: errOut.String(), failed: err != nil}
}

// runKubepki runs our root command in-process with the same environment.
// It changes the working directory, so its callers are not parallel.
func runKubepki(t *testing.T, dir, kubeconfigEnv string, args ...string) toolRun {
	t.Helper()
	t.Setenv("HOME", filepath.Join(dir, "home"))
	if kubeconfigEnv != "" {
		t.Setenv("KUBECONFIG", kubeconfigEnv)
	} else {
		t.Setenv("KUBECONFIG", "")
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(args)
	err := c.ExecuteContext(t.Context())
	r := toolRun{stdout: out.String(), stderr: errOut.String(), failed: err != nil}
	if err != nil {
		r.stderr += "error: " + err.Error() + "\n"
	}
	return r
}

// TestConfigMatchesKubectl runs each "config" command with kubepki and with
// the real kubectl on two copies of the same files and requires the same
// stdout, the same success or failure, the same error text, the same files
// afterwards and the same "kubectl config view --raw".
func TestConfigMatchesKubectl(t *testing.T) {
	kubectl := pkitest.RequireTool(t, "kubectl")
	const explicit = "--kubeconfig={dir}/alpha.conf"
	both := "{dir}/alpha.conf:{dir}/beta.conf"
	missingFirst := "{dir}/missing.conf:{dir}/beta.conf"
	allMissing := "{dir}/new1.conf:{dir}/new2.conf"
	tests := []struct {
		name string
		env  string // KUBECONFIG, "" for ~/.kube/config
		args []string
		// compareErr compares the error text too (kubectl's usage errors
		// print help instead, so those are compared by outcome only).
		compareErr bool
		// unordered compares stdout lines as a set: kubectl prints
		// get-clusters and get-users in map order, kubepki sorts them.
		unordered bool
	}{
		{name: "view merged", env: both, args: []string{"config", "view"}},
		{name: "view raw", env: both, args: []string{"config", "view", "--raw"}},
		{name: "view minify", env: both, args: []string{"config", "view", "--minify", "--raw"}},
		{name: "view minify context", env: both, args: []string{"config", "view", "--minify", "--context=bob@beta"}},
		{name: "view flatten", env: both, args: []string{"config", "view", "--flatten"}},
		{name: "view explicit", env: both, args: []string{"config", "view", explicit}},
		{name: "view json", env: both, args: []string{"config", "view", "-o", "json"}},
		{name: "view jsonpath", env: both, args: []string{"config", "view", "-o", "jsonpath={.clusters[*].cluster.server}"}},
		{name: "view home", args: []string{"config", "view"}},
		{name: "view merge false", env: both, args: []string{"config", "view", "--merge=false"}, compareErr: true},
		{name: "view explicit merge", env: both, args: []string{"config", "view", explicit, "--merge"}},
		{name: "view all missing", env: allMissing, args: []string{"config", "view"}},
		{name: "view minify no current", env: "{dir}/beta.conf", args: []string{"config", "view", "--minify"}, compareErr: true},
		{name: "current-context", env: both, args: []string{"config", "current-context"}},
		{name: "current-context unset", env: "{dir}/beta.conf", args: []string{"config", "current-context"}, compareErr: true},
		{name: "use-context env list", env: both, args: []string{"config", "use-context", "bob@beta"}},
		{name: "use-context first missing", env: missingFirst, args: []string{"config", "use-context", "bob@beta"}},
		{name: "use-context explicit", env: both, args: []string{"config", "use-context", explicit, "alice@alpha"}},
		{name: "use-context home", args: []string{"config", "use-context", "carol@home"}},
		{name: "use-context unknown", env: both, args: []string{"config", "use-context", "nope"}, compareErr: true},
		{name: "get-contexts", env: both, args: []string{"config", "get-contexts"}},
		{name: "get-contexts name", env: both, args: []string{"config", "get-contexts", "-o", "name"}},
		{name: "get-contexts no headers", env: both, args: []string{"config", "get-contexts", "--no-headers"}},
		{name: "get-contexts some", env: both, args: []string{"config", "get-contexts", "bob@beta", "nope"}, compareErr: true},
		{name: "get-clusters", env: both, args: []string{"config", "get-clusters"}, unordered: true},
		{name: "get-users", env: both, args: []string{"config", "get-users"}, unordered: true},
		{name: "set-cluster new", env: both, args: []string{"config", "set-cluster", "gamma", "--server=https://g:6443", "--certificate-authority={dir}/pki/ca.crt"}},
		{name: "set-cluster new all missing", env: allMissing, args: []string{"config", "set-cluster", "gamma", "--server=https://g:6443"}},
		{name: "set-cluster existing in second file", env: both, args: []string{"config", "set-cluster", "beta", "--server=https://10.0.0.3:6443"}},
		{name: "set-cluster embed", env: both, args: []string{"config", "set-cluster", "beta", "--embed-certs", "--certificate-authority={dir}/pki/ca.crt"}},
		{name: "set-cluster insecure", env: both, args: []string{"config", "set-cluster", "alpha", "--insecure-skip-tls-verify"}},
		{name: "set-cluster insecure and ca", env: both, args: []string{"config", "set-cluster", "alpha", "--insecure-skip-tls-verify", "--certificate-authority=x"}, compareErr: true},
		{name: "set-cluster embed without ca", env: both, args: []string{"config", "set-cluster", "alpha", "--embed-certs"}, compareErr: true},
		{name: "set-cluster explicit new file", args: []string{"config", "set-cluster", "--kubeconfig={dir}/fresh.conf", "x", "--server=https://x"}},
		{name: "set-cluster server clears tls-server-name", env: both, args: []string{"config", "set-cluster", "beta", "--server=https://10.0.0.9:6443"}},
		{name: "set-cluster tls-server-name and proxy", env: both, args: []string{"config", "set-cluster", "alpha", "--tls-server-name=alpha.internal", "--proxy-url=http://proxy:3128"}},
		{name: "set-cluster relative ca", env: both, args: []string{"config", "set-cluster", "alpha", "--certificate-authority=pki/ca.crt"}},
		{name: "set-credentials relative paths", env: both, args: []string{"config", "set-credentials", "alice", "--client-certificate=pki/jane.crt", "--client-key=pki/jane.key"}},
		{name: "set-context short namespace", env: both, args: []string{"config", "set-context", "alice@alpha", "-n", "web"}},
		{name: "use-context empty", env: both, args: []string{"config", "use-context", ""}, compareErr: true},
		{name: "set-credentials exec new", env: both, args: []string{"config", "set-credentials", "ex", "--exec-command=/bin/cred", "--exec-api-version=client.authentication.k8s.io/v1", "--exec-arg=a,b", "--exec-env=K=V"}},
		{name: "set-credentials exec on cert user", env: both, args: []string{"config", "set-credentials", "alice", "--exec-command=cred", "--exec-env=A=1"}},
		{name: "set-credentials exec flags without exec", env: both, args: []string{"config", "set-credentials", "alice", "--exec-arg=x"}},
		{name: "set-credentials paths", env: both, args: []string{"config", "set-credentials", "jane", "--client-certificate={dir}/pki/jane.crt", "--client-key={dir}/pki/jane.key"}},
		{name: "set-credentials embed", env: both, args: []string{"config", "set-credentials", "alice", "--embed-certs", "--client-certificate={dir}/pki/jane.crt", "--client-key={dir}/pki/jane.key"}},
		{name: "set-credentials embed missing", env: both, args: []string{"config", "set-credentials", "alice", "--embed-certs", "--client-key={dir}/pki/none.key"}, compareErr: true},
		{name: "set-context new", env: both, args: []string{"config", "set-context", "jane@beta", "--cluster=beta", "--user=jane", "--namespace=ops"}},
		{name: "set-context modify", env: both, args: []string{"config", "set-context", "bob@beta", "--namespace=prod"}},
		{name: "set-context current", env: both, args: []string{"config", "set-context", "--current", "--namespace=kube-system"}},
		{name: "set-context current unset", env: "{dir}/beta.conf", args: []string{"config", "set-context", "--current", "--namespace=x"}, compareErr: true},
		{name: "set-context name and current", env: both, args: []string{"config", "set-context", "x", "--current"}, compareErr: true},
		{name: "delete-context current", env: both, args: []string{"config", "delete-context", "alice@alpha"}},
		{name: "delete-context second file", env: both, args: []string{"config", "delete-context", "bob@beta"}},
		{name: "delete-context missing", env: both, args: []string{"config", "delete-context", "nope"}, compareErr: true},
		{name: "delete-cluster", env: both, args: []string{"config", "delete-cluster", "beta"}},
		{name: "delete-cluster explicit missing", env: both, args: []string{"config", "delete-cluster", explicit, "beta"}, compareErr: true},
		{name: "delete-user", env: both, args: []string{"config", "delete-user", "bob"}},
		{name: "delete-user missing", env: both, args: []string{"config", "delete-user", "nope"}, compareErr: true},
		{name: "rename-context current", env: both, args: []string{"config", "rename-context", "alice@alpha", "a"}},
		{name: "rename-context second file", env: both, args: []string{"config", "rename-context", "bob@beta", "b"}},
		{name: "rename-context exists", env: both, args: []string{"config", "rename-context", "bob@beta", "alice@alpha"}, compareErr: true},
		{name: "rename-context missing", env: both, args: []string{"config", "rename-context", "nope", "x"}, compareErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ourDir, theirDir := writeConfigFixture(t), writeConfigFixture(t)
			sub := func(dir string, args []string) []string {
				out := make([]string, len(args))
				for i, a := range args {
					out[i] = strings.ReplaceAll(a, "{dir}", dir)
				}
				return out
			}
			env := func(dir string) string { return strings.ReplaceAll(tc.env, "{dir}", dir) }

			ours := runKubepki(t, ourDir, env(ourDir), sub(ourDir, tc.args)...)
			theirs := runKubectl(t, kubectl, theirDir, env(theirDir), sub(theirDir, tc.args)...)

			norm := func(s, dir string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, dir, "{dir}"), "kubectl config", "kubepki config")
			}
			if ours.failed != theirs.failed {
				t.Fatalf("kubepki failed = %v (stderr %q), kubectl failed = %v (stderr %q)", ours.failed, ours.stderr, theirs.failed, theirs.stderr)
			}
			if tc.unordered {
				theirs.stdout, ours.stdout = sortLines(theirs.stdout), sortLines(ours.stdout)
			}
			if d := cmp.Diff(norm(theirs.stdout, theirDir), norm(ours.stdout, ourDir)); d != "" {
				t.Errorf("stdout differs (-kubectl +kubepki):\n%s", d)
			}
			if tc.compareErr || !theirs.failed {
				if d := cmp.Diff(norm(theirs.stderr, theirDir), norm(ours.stderr, ourDir)); d != "" {
					t.Errorf("stderr differs (-kubectl +kubepki):\n%s", d)
				}
			}
			if d := cmp.Diff(snapshot(t, theirDir), snapshot(t, ourDir)); d != "" {
				t.Errorf("files differ (-kubectl +kubepki):\n%s", d)
			}
			viewOurs := runKubectl(t, kubectl, ourDir, env(ourDir), "config", "view", "--raw")
			viewTheirs := runKubectl(t, kubectl, theirDir, env(theirDir), "config", "view", "--raw")
			if d := cmp.Diff(norm(viewTheirs.stdout, theirDir), norm(viewOurs.stdout, ourDir)); d != "" {
				t.Errorf("kubectl config view --raw differs (-kubectl +kubepki):\n%s", d)
			}
		})
	}
}

func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestConfigCheckAgainstServer(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)

	r := runCLI(t, "config", "check", "--kubeconfig", admin, "--connect")
	if r.code != 0 {
		t.Fatalf("config check --connect = exit %d (%v), stdout:\n%s", r.code, r.err, r.stdout)
	}
	for _, check := range []string{"server-san", "connect", "chain", "key-matches", "expiry"} {
		if !hasCheckLine(r.stdout, "ok", check) {
			t.Errorf("stdout lacks an ok %s line:\n%s", check, r.stdout)
		}
	}

	// A server name the serving certificate does not carry fails.
	cfg, err := kubeconfig.Read(admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters["kubepki"].TLSServerName = "wrong.example"
	wrong := filepath.Join(t.TempDir(), "wrong.conf")
	if err := kubeconfig.Write(wrong, cfg); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "config", "check", "--kubeconfig", wrong, "--connect", "-o", "json")
	if r.code != 1 {
		t.Fatalf("config check with a wrong server name = exit %d, want 1", r.code)
	}
	var rep configCheckReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("-o json output does not parse: %v\n%s", err, r.stdout)
	}
	if rep.Kind != "KubeconfigCheck" || len(rep.Contexts) != 1 || rep.Contexts[0].Expires == nil {
		t.Fatalf("report = %+v", rep)
	}
	found := false
	for _, res := range rep.Contexts[0].Results {
		if res.Check == kubeconfig.CheckServerSAN && res.Status == kubeconfig.StatusFail && strings.Contains(res.Message, "wrong.example") {
			found = true
		}
	}
	if !found {
		t.Errorf("results %+v lack a failed server-san check naming wrong.example", rep.Contexts[0].Results)
	}

	// A user whose certificate the server's CA did not sign fails offline.
	other := pkitest.NewCA(t, "other")
	cert, key := pkitest.ClientCert(t, other, "mallory")
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.conf")
	if err := kubeconfig.Write(foreign, kubeconfig.NewCertConfig("kubepki", srv.URL, srv.CAPEM, "mallory", pki.MarshalCertificatePEM(cert), keyPEM)); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "config", "check", "--kubeconfig", foreign)
	if r.code != 1 || !hasCheckLine(r.stdout, "fail", "chain") {
		t.Errorf("config check of a foreign certificate = exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if r = runCLI(t, "config", "check", "--kubeconfig", foreign, "--context", "nope"); r.code != 1 {
		t.Errorf("config check --context nope = exit %d, want 1", r.code)
	}
}

func TestConfigMerge(t *testing.T) {
	t.Parallel()
	dir := writeConfigFixtureDir(t)
	a, b := filepath.Join(dir, "alpha.conf"), filepath.Join(dir, "beta.conf")
	out := filepath.Join(dir, "merged.conf")

	r := runCLI(t, "config", "merge", a, b, "-o", out)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), `cluster "alpha" is defined differently`) {
		t.Fatalf("merge with a conflict = exit %d, %v; want the conflict reported", r.code, r.err)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Fatal("merge wrote a file despite the conflict")
	}

	r = runCLI(t, "config", "merge", a, b, "-o", out, "--prefer", "first")
	if r.code != 0 || !strings.Contains(r.stderr, `warning: cluster "alpha" is defined differently`) {
		t.Fatalf("merge --prefer first = exit %d (%v), stderr %q", r.code, r.err, r.stderr)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("merged file: %v, mode %v; want 0600", err, st)
	}
	// The merged file gives kubectl the same view as the KUBECONFIG list
	// (kubectl also keeps the first file's entry), paths aside.
	kubectl := pkitest.RequireTool(t, "kubectl")
	merged := runKubectl(t, kubectl, dir, "", "config", "view", "--raw", "--kubeconfig", out)
	listed := runKubectl(t, kubectl, dir, a+":"+b, "config", "view", "--raw")
	norm := strings.NewReplacer(filepath.Join(dir, "pki/ca.crt"), "pki/ca.crt").Replace
	if d := cmp.Diff(listed.stdout, norm(merged.stdout)); d != "" {
		t.Errorf("merged file differs from the KUBECONFIG merge (-kubectl +kubepki):\n%s", d)
	}

	r = runCLI(t, "config", "merge", a, b, "-o", out, "--prefer", "last")
	if r.code != 1 || !strings.Contains(r.err.Error(), "already exists") {
		t.Errorf("merge over an existing file = exit %d, %v; want already exists", r.code, r.err)
	}
	if r = runCLI(t, "config", "merge", a, "-o", out, "--prefer", "middle"); r.code != 2 {
		t.Errorf("--prefer middle = exit %d, want 2", r.code)
	}
}

// writeConfigFixtureDir is writeConfigFixture for parallel tests.
func writeConfigFixtureDir(t *testing.T) string { return writeConfigFixture(t) }

// hasCheckLine reports whether a config check text output has a line with
// status and check.
func hasCheckLine(out, status, check string) bool {
	return regexp.MustCompile(`(?m)^\s+` + status + `\s+` + check + `\s`).MatchString(out)
}

func FuzzParseExecEnv(f *testing.F) {
	f.Add("K=V", "K-")
	f.Add("=x", "-")
	f.Add("a=b=c", "plain")
	f.Fuzz(func(t *testing.T, a, b string) {
		set, remove, err := parseExecEnv([]string{a, b})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(set)+len(remove) != 2 {
			t.Fatalf("parseExecEnv(%q, %q) = %d pairs and %d removals, want 2 in all", a, b, len(set), len(remove))
		}
		env := applyExecEnv(nil, set, remove)
		for _, s := range set {
			if s.Name == "" {
				t.Fatalf("empty name accepted from %q, %q", a, b)
			}
			if !slices.ContainsFunc(env, func(e clientcmdapi.ExecEnvVar) bool { return e.Name == s.Name }) {
				t.Fatalf("applyExecEnv lost %q", s.Name)
			}
		}
	})
}
