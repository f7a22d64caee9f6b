package cluster

import (
	"io/fs"
	"syscall"
	"testing"
)

// TestProcessUmask reads back the umask the process sets. It changes the
// process umask, so it does not run in parallel.
func TestProcessUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	got, ok := processUmask()
	if !ok || got != 0o027 {
		t.Fatalf("processUmask() = %04o, %v; want 0027, true", got, ok)
	}
	w := &writer{umask: got, umaskKnown: ok}
	for mode, want := range map[fs.FileMode]bool{0o600: false, 0o700: false, 0o644: true, 0o755: true} {
		if w.chmod(mode) != want {
			t.Errorf("chmod(%04o) under umask 0027 = %v, want %v", mode, !want, want)
		}
	}
}
