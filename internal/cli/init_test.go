package cli

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// execPKI runs the root command in-process and returns stdout, stderr
// and the exit code.
func execPKI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return execCommand(t, NewRootCommand, args...)
}

// execCommand runs the command made by newCmd in-process.
func execCommand(t *testing.T, newCmd func(IOStreams) *cobra.Command, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCmd(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(args)
	err := c.ExecuteContext(t.Context())
	if err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

// pkiFolderState maps each path under dir to its mode and content.
func pkiFolderState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		content := ""
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = string(b)
		}
		out[rel] = fi.Mode().String() + " " + content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func initArgs(dir string, extra ...string) []string {
	return append([]string{"init", "--cert-dir", filepath.Join(dir, "pki"), "--kubeconfig-dir", dir,
		"--node-name", "cp1", "--advertise-address", "10.0.0.10"}, extra...)
}

func TestInitCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, code := execPKI(t, initArgs(dir)...)
	if code != 0 {
		t.Fatalf("init exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 27 {
		t.Errorf("init printed %d lines, want 27 (one per file):\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "created ") {
			t.Errorf("first run line %q, want created", l)
		}
	}
	if !strings.Contains(out, filepath.Join(dir, "pki", "etcd", "peer.key")) || errOut != "" {
		t.Errorf("stdout lacks etcd/peer.key or stderr not empty: %q", errOut)
	}
	for name, want := range map[string]fs.FileMode{"pki/ca.key": 0o600, "pki/apiserver.crt": 0o644, "admin.conf": 0o600, "pki/sa.pub": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %04o", name, fi.Mode().Perm(), err, want)
		}
	}

	// Re-run: everything unchanged, as JSON.
	out, errOut, code = execPKI(t, initArgs(dir, "-o", "json")...)
	if code != 0 {
		t.Fatalf("second init exit %d: %s", code, errOut)
	}
	var res struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Files      []struct{ Name, Kind, Path, Status string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("init -o json: %v\n%s", err, out)
	}
	if res.APIVersion != "kubepki.io/v1alpha1" || res.Kind != "InitResult" || len(res.Files) != 27 {
		t.Errorf("init -o json: %s/%s with %d files", res.APIVersion, res.Kind, len(res.Files))
	}
	for _, f := range res.Files {
		if f.Status != "unchanged" {
			t.Errorf("second run %s is %s", f.Path, f.Status)
		}
	}
	out, _, code = execPKI(t, initArgs(dir, "-o", "yaml")...)
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y["kind"] != "InitResult" {
		t.Errorf("init -o yaml exit %d:\n%s", code, out)
	}
}

func TestInitCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(cfg, []byte("apiVersion: kubepki.io/v1alpha1\nkind: Cluster\ncontrolPlaneNodes: [{name: Cp1, ips: [10.0.0.1]}]\n"), 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"config mixed with flags", []string{"init", "--config", cfg, "--node-name", "x"}, 2, "cannot mix --config with --node-name"},
		{"upper-case node in config", []string{"init", "--config", cfg, "--cert-dir", dir}, 1, `use "cp1"`},
		{"upper-case node flag", initArgs(dir, "--node-name", "CP1"), 2, `use "cp1"`},
		{"bad algorithm", initArgs(dir, "--key-algorithm", "dsa-1024"), 2, "dsa-1024"},
		{"bad output", initArgs(dir, "-o", "xml"), 2, "xml"},
		{"extra argument", initArgs(dir, "extra"), 1, "unknown command"},
		{"missing config", []string{"init", "--config", filepath.Join(dir, "nope.yaml")}, 1, "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := execPKI(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantText) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.wantCode, tc.wantText)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "pki")); err == nil {
		t.Error("a failed init created the certificate folder")
	}
}

// TestInitCommandMismatchLeavesFolder shows the CLI face of a damaged
// folder: exit 1, the file named with the fix, nothing changed; --force
// repairs it.
func TestInitCommandMismatchLeavesFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, errOut, code := execPKI(t, initArgs(dir)...); code != 0 {
		t.Fatal(errOut)
	}
	key := filepath.Join(dir, "pki", "apiserver.key")
	other := filepath.Join(dir, "pki", "front-proxy-client.key")
	b, _ := os.ReadFile(other)
	os.WriteFile(key, b, 0o600)
	before := pkiFolderState(t, dir)
	_, errOut, code := execPKI(t, initArgs(dir)...)
	if code != 1 || !strings.Contains(errOut, key+" does not match") || !strings.Contains(errOut, "--force") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming %s and --force", code, errOut, key)
	}
	if diff := cmp.Diff(before, pkiFolderState(t, dir)); diff != "" {
		t.Errorf("failed init changed the folder:\n%s", diff)
	}
	out, errOut, code := execPKI(t, initArgs(dir, "--force")...)
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "replaced "+key) {
		t.Errorf("init --force exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestInitForceKeepsBackup: a CA key that does not match stops init with
// the safe fix first; --force replaces the CA and prints where the
// replaced files are kept.
func TestInitForceKeepsBackup(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	pkiDir := filepath.Join(dir, "pki")
	foreign, err := os.ReadFile(filepath.Join(pkiDir, "front-proxy-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkiDir, "ca.key"), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := execPKI(t, initArgs(dir)...)
	restore, force := strings.Index(errOut, "restore the original"), strings.Index(errOut, "--force")
	if code != 1 || restore < 0 || force < restore || !strings.Contains(errOut, "invalidates every certificate and kubeconfig") {
		t.Fatalf("init with a foreign ca.key: exit %d, stderr %q; want 1, restoring first, then what --force does", code, errOut)
	}
	out, errOut, code := execPKI(t, initArgs(dir, "--force")...)
	if code != 0 {
		t.Fatalf("init --force: exit %d: %s", code, errOut)
	}
	m := regexp.MustCompile(`(?m)^backup +(\S+)$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(errOut, "replaced the CA ca") || !strings.Contains(errOut, m[1]) {
		t.Fatalf("init --force printed no backup folder or CA warning:\n%s\n%s", out, errOut)
	}
	saved, err := os.ReadFile(filepath.Join(m[1], "pki", "ca.key"))
	if err != nil || string(saved) != string(foreign) {
		t.Errorf("backup of the replaced ca.key missing or different (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(m[1], "pki", "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup ca.key: %v, mode %v; want 0600", err, fi.Mode())
	}
}

// TestInitKubeadmConfig: init --config with a kubeadm configuration file
// says that kubeadm's format is not read and which one is, and writes
// nothing.
func TestInitKubeadmConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "kubeadm.yaml")
	data := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: cp1\n---\n" +
		"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.32.0\nnetworking:\n  serviceSubnet: 10.100.0.0/16\n"
	if err := os.WriteFile(config, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, errOut, code := execPKI(t, "init", "--config", config, "--cert-dir", filepath.Join(out, "pki"), "--kubeconfig-dir", out)
	if code == 0 || strings.Contains(errOut, "unknown field") ||
		!strings.Contains(errOut, "kubeadm configuration files are not read") || !strings.Contains(errOut, "docs/cluster-config.md") {
		t.Errorf("init --config kubeadm.yaml: exit %d, stderr %q; want a failure naming the format that is read", code, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("init --config kubeadm.yaml made %s", out)
	}
}
