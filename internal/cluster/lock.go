package cluster

import (
	"errors"
	"path/filepath"

	"github.com/kubepki/kubepki/internal/filelock"
	"github.com/kubepki/kubepki/internal/pki"
)

// lockFolder takes an exclusive lock on the lock file in dir,
// [LockFileName], created 0600 if missing (see [filelock.TryLock]; it
// does nothing where there is no flock, and runs on one folder must then
// not overlap). A lock another process holds is a *[BusyError] at once,
// not a wait.
func lockFolder(dir string) (unlock func(), err error) {
	unlock, err = filelock.TryLock(filepath.Join(dir, LockFileName), pki.ModeKey)
	var busy *filelock.BusyError
	if errors.As(err, &busy) {
		return nil, &BusyError{Dir: dir, PID: busy.PID}
	}
	return unlock, err
}
