package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// ReleaseReadPages advises the kernel that the pages of the file read so
// far through the store's memory map are not needed soon, so that one
// scan of the whole store (the controllers' initial list of every CSR,
// at start) does not stay resident: the kernel reclaims those pages now
// (MADV_PAGEOUT) instead of keeping them in the process's RSS and the page
// cache. They are clean copies of the file, so nothing is lost; a later
// read faults its pages back in from the file. The map cannot move
// meanwhile: bbolt remaps only while no read transaction is open, and this
// runs in one. Kernels before 5.4 do not know the advice; it is then a
// no-op.
func (s *Store) ReleaseReadPages() error {
	return s.view(context.Background(), func(tx *bbolt.Tx) error {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, s.db.Info().Data, uintptr(tx.Size()), unix.MADV_PAGEOUT)
		if errno != 0 && !errors.Is(errno, unix.EINVAL) {
			return fmt.Errorf("release the read pages of %s: %w", s.path, errno)
		}
		return nil
	})
}
