//go:build unix

package cluster

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunsLockTheFolder: while another process holds the certificate
// folder's lock, init, renew and issue fail at once naming it and its
// process, and change nothing; after it lets go they run.
func TestRunsLockTheFolder(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	unlock, err := lockFolder(o.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, o.KubeconfigDir)
	runs := map[string]func() error{
		"init": func() error { _, err := Init(t.Context(), o); return err },
		"renew": func() error {
			_, err := Renew(t.Context(), o, RenewOptions{Names: []string{"all"}})
			return err
		},
		"issue user": func() error {
			_, err := IssueUser(t.Context(), o, User{Name: "jane"}, "https://10.0.0.10:6443")
			return err
		},
	}
	for name, run := range runs {
		err := run()
		busy, ok := errors.AsType[*BusyError](err)
		if !ok || busy.Dir != o.CertDir || busy.PID != os.Getpid() {
			t.Errorf("%s while locked = %v, want a *BusyError for %s with pid %d", name, err, o.CertDir, os.Getpid())
		}
	}
	if diff := cmp.Diff(before, snapshot(t, o.KubeconfigDir)); diff != "" {
		t.Errorf("runs refused by the lock changed files:\n%s", diff)
	}
	unlock()
	for name, run := range runs {
		if err := run(); err != nil {
			t.Errorf("%s after the lock is released: %v", name, err)
		}
	}
}

// TestConcurrentInits: inits racing on one fresh folder each either make
// the whole PKI or fail as busy, and the result is one consistent PKI.
func TestConcurrentInits(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = Init(t.Context(), o) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if _, busy := errors.AsType[*BusyError](err); err != nil && !busy {
			t.Errorf("concurrent Init = %v, want success or a *BusyError", err)
		}
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no concurrent Init succeeded")
	}
	for _, f := range mustInit(t, o).Files {
		if f.Status != StatusUnchanged {
			t.Errorf("Init after the race: %s %s, want unchanged", f.Status, f.Path)
		}
	}
}
