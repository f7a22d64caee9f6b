package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestInitBadInputLeavesFolderUnchanged damages one file of a finished
// init in each way a user might, re-runs init, and checks that it fails
// naming the file, and that not one byte or mode in the folders changed.
func TestInitBadInputLeavesFolderUnchanged(t *testing.T) {
	t.Parallel()
	other := pkitest.NewCA(t, "someone-else")
	otherCert, otherKey := pkitest.Leaf(t, other, pki.CertOptions{})
	otherKeyPEM, _ := pki.MarshalPrivateKeyPEM(otherKey)
	tests := []struct {
		name     string
		file     string // relative to the kubeconfig folder
		damage   func(t *testing.T, path string)
		wantText []string
		forceOK  bool // --force repairs it
	}{
		{"garbled PEM certificate", "pki/apiserver.crt", writeString("-----BEGIN CERTIFICATE-----\nnot base64\n"), []string{"apiserver.crt", "cannot be read"}, true},
		{"garbled PEM key", "pki/apiserver.key", writeString("garbage"), []string{"apiserver.key", "cannot be read"}, true},
		{"certificate where the key goes", "pki/front-proxy-client.key", copyFrom("pki/front-proxy-client.crt"), []string{"front-proxy-client.key", "not the certificate"}, true},
		{"key of another certificate", "pki/etcd/peer.key", writeBytes(otherKeyPEM), []string{"etcd/peer.key", "does not match"}, true},
		{"signed by another CA", "pki/apiserver-kubelet-client.crt", writeBytes(pki.MarshalCertificatePEM(otherCert)), []string{"apiserver-kubelet-client.crt"}, true},
		{"missing key", "pki/apiserver.key", remove, []string{"apiserver.key", "is missing"}, true},
		{"missing CA certificate", "pki/ca.crt", remove, []string{"ca.crt", "is missing"}, true},
		{"encrypted key", "pki/etcd/server.key", encrypt, []string{"etcd/server.key", "encrypted"}, true},
		{"kubeconfig with another CA", "admin.conf", copyFrom("kubelet.conf.other"), []string{"admin.conf", "wrong CA"}, true},
		{"directory in the way", "pki/sa.pub", makeDir, []string{"sa.pub"}, false},
		{"symlink planted at a key", "pki/apiserver.key", symlinkTo("/tmp/kubepki-planted.key"), []string{"apiserver.key", "symbolic link"}, false},
		{"symlink planted at a kubeconfig", "admin.conf", symlinkTo("kubelet.conf"), []string{"admin.conf", "symbolic link"}, false},
		{"world-readable CA key", "pki/ca.key", chmod(0o644), []string{"ca.key", "chmod 600"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			mustInit(t, o)
			if tc.file == "admin.conf" {
				// A kubeconfig from another cluster's CA.
				o2 := testOptions(t)
				mustInit(t, o2)
				copyFile(t, filepath.Join(o2.KubeconfigDir, "admin.conf"), filepath.Join(o.KubeconfigDir, "kubelet.conf.other"))
			}
			tc.damage(t, filepath.Join(o.KubeconfigDir, tc.file))
			t.Cleanup(func() {
				if _, err := os.Lstat("/tmp/kubepki-planted.key"); err == nil {
					t.Error("a symlink target was written through")
				}
			})
			before := snapshot(t, o.KubeconfigDir)

			_, err := Init(t.Context(), o)
			if err == nil {
				t.Fatal("Init succeeded on a damaged folder")
			}
			if !containsAll(err.Error(), tc.wantText...) {
				t.Errorf("Init error %q, want it to mention %q", err, tc.wantText)
			}
			if diff := cmp.Diff(before, snapshot(t, o.KubeconfigDir)); diff != "" {
				t.Errorf("failed Init changed the folder (-before +after):\n%s", diff)
			}

			o.Force = true
			res, err := Init(t.Context(), o)
			if !tc.forceOK {
				if err == nil {
					t.Fatalf("Init --force succeeded, want it to refuse")
				}
				return
			}
			if err != nil {
				t.Fatalf("Init --force: %v", err)
			}
			replaced := 0
			for _, f := range res.Files {
				if f.Status == StatusReplaced {
					replaced++
				}
			}
			if replaced == 0 {
				t.Error("Init --force replaced nothing")
			}
			o.Force = false
			if _, err := Init(t.Context(), o); err != nil {
				t.Errorf("Init after --force: %v", err)
			}
		})
	}
}

func writeString(s string) func(*testing.T, string) { return writeBytes([]byte(s)) }

func writeBytes(b []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		mode := fs.FileMode(0o600)
		if strings.HasSuffix(path, ".crt") {
			mode = 0o644
		}
		if err := pki.WriteFile(path, b, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFrom(rel string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		root := filepath.Dir(path)
		if filepath.Base(root) == "pki" || filepath.Base(filepath.Dir(root)) == "pki" {
			for filepath.Base(root) != "pki" {
				root = filepath.Dir(root)
			}
			root = filepath.Dir(root)
		}
		copyFile(t, filepath.Join(root, rel), path)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func makeDir(t *testing.T, path string) {
	t.Helper()
	remove(t, path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

// symlinkTo replaces the file with a symbolic link to target.
func symlinkTo(target string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		remove(t, path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(mode fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// encrypt replaces a key with the same key encrypted by the real openssl.
func encrypt(t *testing.T, path string) {
	t.Helper()
	openssl := pkitest.RequireTool(t, "openssl")
	out := path + ".enc"
	if b, err := exec.Command(openssl, "pkcs8", "-topk8", "-in", path, "-out", out, "-passout", "pass:secret").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs8: %v\n%s", err, b)
	}
	if err := os.Rename(out, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestInitUnwritableFolder points the kubeconfig folder where no folder
// can be made: init fails naming it and leaves the certificate folder as
// it was (not even created).
func TestInitUnwritableFolder(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.KubeconfigDir = unwritableDir(t)
	_, err := Init(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), filepath.Dir(o.KubeconfigDir)) {
		t.Fatalf("Init = %v, want an error naming %s", err, o.KubeconfigDir)
	}
	if _, err := os.Stat(o.CertDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("certificate folder %s exists after a failed init (%v), want it removed again", o.CertDir, err)
	}
}

// TestFolderUnderAFile: a certificate or kubeconfig folder below a
// regular file is refused by init and renew with an error naming the
// file, before anything is made.
func TestFolderUnderAFile(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	file := filepath.Join(base, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, certDir, kubeconfigDir string }{
		{"cert dir", filepath.Join(file, "pki"), filepath.Join(base, "kc1")},
		{"kubeconfig dir, deeper", filepath.Join(base, "pki2"), filepath.Join(file, "x", "y")},
	} {
		o := optionsIn(base)
		o.CertDir, o.KubeconfigDir = tc.certDir, tc.kubeconfigDir
		_, err := Init(t.Context(), o)
		if err == nil || !strings.Contains(err.Error(), file+" is a file where a folder is needed") {
			t.Errorf("%s: Init = %v, want an error naming %s as a file", tc.name, err, file)
		}
		_, err = Renew(t.Context(), o, RenewOptions{Names: []string{"all"}})
		if err == nil || !strings.Contains(err.Error(), file+" is a file where a folder is needed") {
			t.Errorf("%s: Renew = %v, want an error naming %s as a file", tc.name, err, file)
		}
	}
	entries, err := os.ReadDir(base)
	if err != nil || len(entries) != 1 {
		t.Errorf("after the refused runs %s holds %v (%v), want afile alone", base, entries, err)
	}
}

// unwritableDir returns a folder path that cannot be created: under a
// read-only folder, or, for root (who ignores modes), under /sys.
func unwritableDir(t *testing.T) string {
	t.Helper()
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ro, "probe"), 0o700); err == nil {
		// Modes do not stop us (root): use a kernel file system.
		if err := os.Mkdir("/sys/kubepki-probe", 0o700); err == nil {
			os.Remove("/sys/kubepki-probe")
			t.Skip("SKIPPED: no folder is unwritable for this user")
		}
		return "/sys/kubepki-test/kubeconfigs"
	}
	return filepath.Join(ro, "kubeconfigs")
}

// TestCommitRollsBackPartialWrites makes the fifth rename of a stage fail
// and checks that files renamed before it are restored or removed, and
// that no temporary file or new folder is left.
func TestCommitRollsBackPartialWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.crt")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	var st stage
	st.add(existing, []byte("new"), pki.ModeCert, pki.ModeKeyDir)
	for _, name := range []string{"a/1.key", "a/2.key", "b/c/3.key", "fail.key", "d/4.key"} {
		st.add(filepath.Join(dir, name), []byte("secret"), pki.ModeKey, pki.ModeKeyDir)
	}
	boom := errors.New("disk full")
	st.beforeRename = failRename("fail.key", boom)
	if err := st.commit(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("commit = %v, want %v", err, boom)
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("failed commit changed the folder (-before +after):\n%s", diff)
	}
}

// TestInitUnderUmasks runs init with the most permissive umask, the
// usual one and a strict one, and checks that the modes are still
// kubeadm's (the writer skips setting modes the umask leaves alone). It
// changes the process umask, so it does not run in parallel.
func TestInitUnderUmasks(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077} {
		t.Run(fmt.Sprintf("%04o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			o := testOptions(t)
			o.WorkerNodes = []Node{{Name: "w1", IPs: []string{"10.0.0.21"}}}
			mustInit(t, o)
			for name, want := range map[string]fs.FileMode{
				"pki": 0o700, "pki/etcd": 0o700, "pki/ca.key": 0o600, "pki/ca.crt": 0o644, "pki/sa.pub": 0o600, "admin.conf": 0o600,
				"pki/nodes": 0o700, "pki/nodes/w1": 0o700, "pki/nodes/w1/kubelet.crt": 0o644, "pki/nodes/w1/kubelet.key": 0o600,
			} {
				fi, err := os.Stat(filepath.Join(o.KubeconfigDir, name))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if fi.Mode().Perm() != want {
					t.Errorf("under umask %04o %s has mode %04o, want %04o", umask, name, fi.Mode().Perm(), want)
				}
			}
		})
	}
}
