package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestKubeconfigFoldersAreKeyFolders checks the modes of the folders
// made for kubeconfigs, which embed private keys (security.md §2.8): the
// users/ and nodes/<name>/ folders, and a kubeconfig folder made only for
// them, are 0700; kubeadm's own kubeconfig folder keeps kubeadm's 0755
// (kubernetes-pki reference §1.7); existing folders keep their mode.
func TestKubeconfigFoldersAreKeyFolders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(rel string) string { return filepath.Join(dir, rel) }
	run := func(args ...string) {
		t.Helper()
		if _, errOut, code := execPKI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	run("init", "--cert-dir", p("pki"), "--kubeconfig-dir", p("kc"), "--node-name", "cp1", "--advertise-address", "10.0.0.10")
	run("certs", "issue", "user", "jane", "--cert-dir", p("pki"), "--kubeconfig-dir", p("kc"))
	run("certs", "issue", "node", "w1", "--ip", "10.0.0.21", "--cert-dir", p("pki"), "--kubeconfig-dir", p("kc"))
	run("certs", "issue", "user", "bob", "--cert-dir", p("pki"), "--kubeconfig-dir", p("kc2"), "--server", "https://10.0.0.10:6443")
	if err := os.Mkdir(p("kc3"), 0o755); err != nil {
		t.Fatal(err)
	}
	run("certs", "issue", "user", "ann", "--cert-dir", p("pki"), "--kubeconfig-dir", p("kc3"), "--server", "https://10.0.0.10:6443")
	run("config", "set-credentials", "joe", "--kubeconfig", p("cfg/a/config"),
		"--client-certificate", p("pki/users/jane.crt"), "--client-key", p("pki/users/jane.key"), "--embed-certs")

	for rel, want := range map[string]fs.FileMode{
		"kc":           0o755, // kubeadm's kubeconfig folder, made by init
		"kc/users":     0o700,
		"kc/nodes":     0o700,
		"kc/nodes/w1":  0o700,
		"kc2":          0o700, // made only for a user's kubeconfig
		"kc2/users":    0o700,
		"kc3":          0o755, // existed: unchanged
		"kc3/users":    0o700,
		"cfg":          0o700, // made by config for its destination file
		"cfg/a":        0o700,
		"pki/users":    0o700,
		"pki/nodes/w1": 0o700,
	} {
		fi, err := os.Stat(p(rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %04o, want %04o", rel, got, want)
		}
	}
}
