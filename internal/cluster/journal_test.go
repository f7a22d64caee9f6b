package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCrashDuringRenamesIsCompleted stops a --force init after some of
// its renames, as a kill would (nothing cleaned up), and checks that the
// folder then holds a mix, and that the next run completes the interrupted
// commit from its record instead of leaving mismatched pairs.
func TestCrashDuringRenamesIsCompleted(t *testing.T) {
	t.Parallel()
	for _, after := range []int{0, 1, 5, 10} {
		t.Run(fmt.Sprintf("after %d renames", after), func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			mustInit(t, o)
			// Force a new CA and everything it signed.
			if err := os.Remove(filepath.Join(o.CertDir, "ca.crt")); err != nil {
				t.Fatal(err)
			}
			p, st := forcedInitStage(t, o)
			st.beforeRename = crashAfter(after)
			if err := st.commit(t.Context()); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("commit = %v, want the simulated crash", err)
			}
			o.Force = false
			if _, err := os.Stat(p.journalPath()); err != nil {
				t.Fatalf("no commit record after the crash: %v", err)
			}

			// Checking now (without Force) must succeed only because
			// the record is completed first.
			res, err := Init(t.Context(), o)
			if err != nil {
				t.Fatalf("Init after the crash: %v", err)
			}
			if len(res.Warnings) != 1 {
				t.Errorf("warnings %q, want one about the completed run", res.Warnings)
			}
			for _, f := range res.Files {
				if f.Status != StatusUnchanged {
					t.Errorf("after recovery %s is %s, want unchanged", f.Path, f.Status)
				}
			}
			if _, err := os.Stat(p.journalPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("commit record left after recovery: %v", err)
			}
			matches, _ := filepath.Glob(filepath.Join(o.CertDir, ".*.tmp-*"))
			if len(matches) != 0 {
				t.Errorf("temporary files left: %q", matches)
			}
		})
	}
}

func TestRecoverCommitRefusesForeignRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	victim := filepath.Join(dir, "precious")
	os.WriteFile(victim, []byte("keep"), 0o600)
	record := filepath.Join(dir, journalName)
	os.WriteFile(record, []byte(`{"renames":[{"temp":"`+victim+`","path":"`+filepath.Join(dir, "ca.key")+`"}]}`), 0o600)
	before := snapshot(t, dir)
	if _, err := recoverCommit(record); err == nil {
		t.Fatal("recoverCommit followed a record naming a file that is not a temporary file")
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("refused record changed files:\n%s", diff)
	}
	os.WriteFile(record, []byte("{garbled"), 0o600)
	if _, err := recoverCommit(record); err == nil {
		t.Error("recoverCommit accepted a garbled record")
	}
}

// forcedInitStage plans a --force init of o's folders and returns the
// stage it would commit, with its commit record.
func forcedInitStage(t *testing.T, o Options) (*Plan, *stage) {
	t.Helper()
	o.Force = true
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(p)
	for _, ca := range p.CAs {
		r.planCA(ca)
	}
	for _, c := range p.Certs {
		r.planCert(c)
	}
	r.planServiceAccount()
	for _, k := range p.Kubeconfigs {
		r.planKubeconfig(k)
	}
	st := &stage{journal: p.journalPath()}
	var mu sync.Mutex
	for _, wave := range [][]job{r.caJobs, r.jobs} {
		if err := runJobs(t.Context(), wave, nil, func(files []stagedFile) error {
			mu.Lock()
			defer mu.Unlock()
			st.files = append(st.files, files...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return p, st
}

// TestKilledDuringRenames re-runs this test binary as a child that starts
// a --force init and kills itself with SIGKILL after some renames; the
// parent then checks that the next init completes the set.
func TestKilledDuringRenames(t *testing.T) {
	t.Parallel()
	for _, after := range []int{0, 3, 9} {
		t.Run(fmt.Sprintf("after %d renames", after), func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			mustInit(t, o)
			if err := os.Remove(filepath.Join(o.CertDir, "ca.crt")); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledChild$", "-test.v")
			cmd.Env = append(os.Environ(), "KUBEPKI_CHILD_DIR="+o.KubeconfigDir, fmt.Sprintf("KUBEPKI_CHILD_AFTER=%d", after))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die of SIGKILL: %v\n%s", err, out)
			}
			res, err := Init(t.Context(), o)
			if err != nil {
				t.Fatalf("Init after the kill: %v", err)
			}
			for _, f := range res.Files {
				if f.Status != StatusUnchanged {
					t.Errorf("after recovery %s is %s, want unchanged", f.Path, f.Status)
				}
			}
		})
	}
}

// TestKilledChild is the child of TestKilledDuringRenames; it does
// nothing unless started by it.
func TestKilledChild(t *testing.T) {
	dir := os.Getenv("KUBEPKI_CHILD_DIR")
	if dir == "" {
		t.Skip("only run as the child of TestKilledDuringRenames")
	}
	after, err := strconv.Atoi(os.Getenv("KUBEPKI_CHILD_AFTER"))
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.CertDir, o.KubeconfigDir = filepath.Join(dir, "pki"), dir
	o.NodeName, o.AdvertiseAddress = "cp1", "10.0.0.10"
	o.Now = func() time.Time { return testStart }
	_, st := forcedInitStage(t, o)
	n := 0
	st.beforeRename = func(string) error {
		if n++; n > after {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	}
	err = st.commit(t.Context())
	t.Fatalf("commit returned %v instead of being killed", err)
}

// TestRecoverCompletedRecord: a record left by a crash after its last
// rename (its removal is not synced) names only temporary files that are
// gone; recovery renames nothing and removes it.
func TestRecoverCompletedRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(target, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, journalName)
	if err := writeJournal(record, []journalEntry{{Temp: filepath.Join(dir, ".ca.crt.tmp-1x"), Path: target}}); err != nil {
		t.Fatal(err)
	}
	n, err := recoverCommit(record)
	if err != nil || n != 0 {
		t.Fatalf("recoverCommit = %d, %v; want 0, nil", n, err)
	}
	if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record still there: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("target changed to %q", b)
	}
}

// TestLeftoversOfKilledRunAreRemoved leaves what a run killed before its
// commit record leaves, every temporary file and tree written and none
// renamed (kill -9 of "kubepki init" at the wrong moment), and shows that
// the next init, renew or issue removes it all: no temporary copy of a
// key stays behind, and the folders hold the set and nothing else.
func TestLeftoversOfKilledRunAreRemoved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		existing bool // an init ran before the killed one
		next     func(t *testing.T, o Options) error
	}{
		{name: "killed first init, then init", next: func(t *testing.T, o Options) error { _, err := Init(t.Context(), o); return err }},
		{name: "killed forced init, then init", existing: true, next: func(t *testing.T, o Options) error { _, err := Init(t.Context(), o); return err }},
		{name: "killed forced init, then renew", existing: true, next: func(t *testing.T, o Options) error {
			p, err := NewPlan(o)
			if err != nil {
				return err
			}
			_, err = p.Renew(t.Context(), RenewOptions{Names: []string{"apiserver"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			killed := o
			if tc.existing {
				mustInit(t, o)
				// The killed --force init replaced apiserver.crt and .key.
				killed.APIServerCertSANs = []string{"api.example.org"}
			}
			_, st := forcedInitStage(t, killed)
			w, err := st.begin()
			if err != nil {
				t.Fatal(err)
			}
			if err := w.put(st.files); err != nil {
				t.Fatal(err)
			}
			var temps []string
			filepath.WalkDir(o.KubeconfigDir, func(path string, d fs.DirEntry, err error) error {
				if _, ok := tempBase(d.Name()); ok {
					temps = append(temps, path)
				}
				return err
			})
			if len(temps) == 0 {
				t.Fatal("the killed run left no temporary file: the test does not test anything")
			}
			if err := tc.next(t, o); err != nil {
				t.Fatalf("run after the kill: %v", err)
			}
			for _, path := range temps {
				if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s, left by the killed run, still exists after the next run (Lstat: %v)", path, err)
				}
			}
			// What remains is the set, which a second init keeps.
			for _, f := range mustInit(t, o).Files {
				if f.Status != StatusUnchanged {
					t.Errorf("after the run, %s is %s, want unchanged", f.Path, f.Status)
				}
			}
		})
	}
}

func TestTempBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{".ca.key.tmp-3ofzd7bc5bjow", "ca.key", true},
		{".etcd.tmp-11kcre7uy94cf", "etcd", true},
		{".admin.conf.tmp-1", "admin.conf", true},
		{"ca.key.tmp-1", "", false},
		{".ca.key.tmp-", "", false},
		{".ca.key.tmp-ABC", "", false},
		{".tmp-1", "", false},
		{".kubepki-commit.json", "", false},
	} {
		if got, ok := tempBase(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("tempBase(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
