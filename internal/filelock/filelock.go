// Package filelock takes exclusive advisory locks on lock files, so that
// two kubepki processes never work on the same folder at once.
package filelock

import "errors"

// ErrBusy is wrapped by the error of TryLock when another process holds
// the lock.
var ErrBusy = errors.New("locked by another process")

// BusyError says that another process holds a lock, and which one when it
// wrote its ID into the lock file.
type BusyError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's process ID as it wrote it, or 0 when unknown.
	PID int
}

func (e *BusyError) Error() string { return e.Path + ": " + ErrBusy.Error() }

func (e *BusyError) Unwrap() error { return ErrBusy }
