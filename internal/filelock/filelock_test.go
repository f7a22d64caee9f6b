//go:build unix

package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTryLock: the first lock holds and writes its pid, a second one on
// the same file is refused at once naming that pid, release lets the next
// one in, the file is made with the mode asked, and a symlink is refused.
func TestTryLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "lock")
	release, err := TryLock(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, mode %v", err, fi.Mode())
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid", data)
	}
	_, err = TryLock(path, 0o600)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.PID != os.Getpid() || busy.Path != path {
		t.Fatalf("second lock: %v, want a BusyError naming pid %d", err, os.Getpid())
	}
	release()
	again, err := TryLock(path, 0o600)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()

	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(link, 0o600); err == nil {
		t.Error("a lock through a symlink was taken")
	}
}

// TestTryLockRemovedFile: a lock taken on a file its holder removed (and
// released) meanwhile is refused, since it protects nothing.
func TestTryLockRemovedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !sameFile(mustStat(t, f), path) {
		return // the expected case: the removed file is not path any more
	}
	t.Error("sameFile took a removed file for the one at its path")
}

func mustStat(t *testing.T, f *os.File) os.FileInfo {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
