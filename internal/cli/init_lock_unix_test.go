//go:build unix

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/cluster"
	"golang.org/x/sys/unix"
)

// TestInitRenewWhileLocked: while another process holds the certificate
// folder's lock, init and renew exit 1 naming the folder and that
// process's ID, and change nothing.
func TestInitRenewWhileLocked(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	pkiDir := filepath.Join(dir, "pki")
	f, err := os.OpenFile(filepath.Join(pkiDir, cluster.LockFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	const otherPID = 4242
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", otherPID); err != nil {
		t.Fatal(err)
	}
	before := pkiFolderState(t, dir)
	want := fmt.Sprintf("another kubepki is working on %s (pid %d)", pkiDir, otherPID)
	for _, args := range [][]string{
		initArgs(dir, "--force"),
		append([]string{"certs", "renew", "all"}, dirArgs(dir)...),
	} {
		if _, errOut, code := execPKI(t, args...); code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%s while locked: exit %d, stderr %q; want 1 with %q", args[0], code, errOut, want)
		}
	}
	if diff := cmp.Diff(before, pkiFolderState(t, dir)); diff != "" {
		t.Errorf("refused runs changed files:\n%s", diff)
	}
	f.Close()
	if _, errOut, code := execPKI(t, append([]string{"certs", "renew", "all"}, dirArgs(dir)...)...); code != 0 {
		t.Errorf("renew after the lock is released: exit %d: %s", code, errOut)
	}
}
