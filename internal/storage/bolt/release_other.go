//go:build !linux

package bolt

// ReleaseReadPages is a no-op where the kernel has no MADV_PAGEOUT.
func (s *Store) ReleaseReadPages() error { return nil }
