package cli

import (
	"os"
	"runtime"
)

// The server's processor setting. The store commits with fdatasync, which
// blocks its thread for as long as the disk takes, a good part of every
// commit. Go leaves the processor (P) of a thread in a system call
// attached to it until its monitor notices, so with GOMAXPROCS equal to
// the cores one core idled through much of each fsync: the cycle
// benchmark used 1.7 of 2 cores. One P more than the runtime's default
// keeps the cores busy while a thread waits on the disk (1.9 cores,
// +12–15% cycles/s at concurrency 64 in full bench runs; see
// docs/PERFORMANCE.md). When no thread is blocked, the Ps share the cores
// under the kernel's scheduler; at concurrency 1 and 16, and on tmpfs
// where fsync does not wait, the bench measured no difference. With etcd
// the fsyncs happen in the etcd members, not here, and serve keeps Go's
// default (the etcd full cycle was the same or a little slower with the
// extra P). Setting GOMAXPROCS also stops Go from following later changes
// of the container's CPU limit (an in-place pod resize): the value stays
// what it was at start, plus one, until serve restarts.

// tuneServeProcs sets GOMAXPROCS to one more than the runtime's default,
// unless the user set GOMAXPROCS, and returns a function that restores
// the setting it found.
func tuneServeProcs() (restore func()) {
	if os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	before := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(before + 1)
	return func() { runtime.GOMAXPROCS(before) }
}
