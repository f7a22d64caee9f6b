//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockDataDir takes the data dir's lock file, DIR/serveLockFile, so that a
// second serve on the same data dir fails at once instead of rewriting
// the first one's admin.conf and etcd-store-id. The bbolt store locks its
// own file; with etcd nothing else would. The lock goes with the process
// (or with release).
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, serveLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, serveStoreMarkerMode)
	if err != nil {
		return nil, fmt.Errorf("open the lock file of the data dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &dataDirBusyError{Dir: dir, Lock: path}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Unlock before closing: a child forked meanwhile holds a copy of the
	// descriptor until it execs, and with it the lock.
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
