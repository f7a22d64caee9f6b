package pki

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileModesIgnoreUmask runs under umask 000 and 077: the modes
// must be exactly the ones asked for. Not parallel: the umask is
// process-wide.
func TestWriteFileModesIgnoreUmask(t *testing.T) {
	for _, umask := range []int{0o000, 0o077, 0o022} {
		old := syscall.Umask(umask)
		dir := t.TempDir()
		keyDir := filepath.Join(dir, "a", "b")
		if err := MkdirAll(keyDir, ModeKeyDir); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			perm fs.FileMode
		}{{"x.key", ModeKey}, {"x.crt", ModeCert}, {"admin.conf", ModeKubeconfig}} {
			p := filepath.Join(keyDir, tc.name)
			if err := WriteFile(p, []byte("data"), tc.perm); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.perm {
				t.Errorf("umask %03o: %s mode = %04o, want %04o", umask, tc.name, got, tc.perm)
			}
		}
		for _, d := range []string{filepath.Join(dir, "a"), keyDir} {
			fi, _ := os.Stat(d)
			if got := fi.Mode().Perm(); got != ModeKeyDir {
				t.Errorf("umask %03o: dir %s mode = %04o, want 0700", umask, d, got)
			}
		}
		syscall.Umask(old)
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f.crt")
	if err := WriteFile(p, []byte("one"), ModeCert); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), ModeCert); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "two" {
		t.Errorf("content = %q, want two", got)
	}
	if err := WriteFileNew(p, []byte("three"), ModeCert); !errors.Is(err, ErrExists) {
		t.Errorf("WriteFileNew over existing = %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "two" {
		t.Errorf("WriteFileNew changed the file: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileRefusesSymlinkAndDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "ca.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("key"), ModeKey); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("WriteFile(symlink) = %v, want ErrUnsafePath", err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, []byte("precious")) {
		t.Error("symlink target was written")
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if err := WriteFile(sub, []byte("x"), ModeKey); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("WriteFile(dir) = %v, want ErrUnsafePath", err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.key"), []byte("x"), ModeKey); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if err := MkdirAll(target, ModeKeyDir); err == nil {
		t.Error("MkdirAll over a file succeeded")
	}
}

func TestReadFileErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := NewSelfSignedCA(CAOptions{CommonName: "ca"})
	crt := filepath.Join(dir, "ca.crt")
	WriteFile(crt, MarshalCertificatePEM(ca.Cert), ModeCert)
	_, err := ReadPrivateKeyFile(crt)
	if !errors.Is(err, ErrNotPrivateKey) || !bytes.Contains([]byte(err.Error()), []byte(crt)) {
		t.Errorf("ReadPrivateKeyFile(cert) = %v, want ErrNotPrivateKey naming %s", err, crt)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxFileSize+10), 0o600)
	if _, err := ReadCertificateFile(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadCertificateFile(big) = %v, want ErrTooLarge", err)
	}
	if _, err := ReadCSRFile(filepath.Join(dir, "nope.csr")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadCSRFile(missing) = %v, want ErrNotExist", err)
	}
}
