//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TryLock takes an exclusive lock (flock) on the file at path, created
// with mode if missing (never through a symlink), and writes this
// process's ID into it for the message of the next one. It does not wait:
// a lock another process holds is a *[BusyError]. The lock goes with the
// process, or with release.
func TryLock(path string, mode fs.FileMode) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &BusyError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Unlock explicitly: a child process forked elsewhere in this
	// process may hold a copy of the descriptor until it execs, and
	// closing ours alone would leave the lock held by that copy.
	release = func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}
	// A holder may remove the lock file (a failed first init removes its
	// folder) before it lets go; a lock taken on that file meanwhile
	// protects nothing.
	if held, err := f.Stat(); err != nil || !sameFile(held, path) {
		release()
		return nil, &BusyError{Path: path}
	}
	// The ID is only a hint for the message; failing to write it is no
	// reason to stop. Written before the old one is cut off, so that a
	// reader never finds the file empty.
	id := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(id, 0); err == nil {
		_ = f.Truncate(int64(len(id)))
	}
	return release, nil
}

// sameFile reports whether path still names the file fi describes.
func sameFile(fi os.FileInfo, path string) bool {
	now, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, now)
}
