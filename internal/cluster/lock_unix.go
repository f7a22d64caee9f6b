//go:build unix

package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubepki/kubepki/internal/pki"
	"golang.org/x/sys/unix"
)

// lockFolder takes an exclusive lock (flock) on the lock file in dir,
// [LockFileName], created 0600 if missing, and writes this process's ID into
// it for the error of the next one. The lock goes with the process, or
// with unlock. A lock another process holds is a *[BusyError] at once,
// not a wait.
func lockFolder(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, pki.ModeKey)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &BusyError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// A failed first init removes the lock file (and its folder) before
	// it lets go; a lock taken on that file meanwhile protects nothing.
	if held, err := f.Stat(); err != nil || !sameFile(held, path) {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		return nil, &BusyError{Dir: dir}
	}
	// The ID is only a hint for the message; failing to write it is no
	// reason to stop. Written before the old one is cut off, so that a
	// reader never finds the file empty.
	id := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(id, 0); err == nil {
		f.Truncate(int64(len(id)))
	}
	// Unlock explicitly: a child process forked elsewhere in this
	// process may hold a copy of the descriptor until it execs, and
	// closing ours alone would leave the lock held by that copy.
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// sameFile reports whether path still names the file fi describes.
func sameFile(fi os.FileInfo, path string) bool {
	now, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, now)
}
