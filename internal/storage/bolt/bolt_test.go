package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

// openTest opens a store in a fresh temporary directory and closes it at
// the end of the test.
func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "kubepki.db"), opts)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Interface { return openTest(t, Options{}) })
}

func TestReopenKeepsDataAndRevisions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	r1, err := s.Create(ctx, "/a", []byte("one"))
	if err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	r2, err := s.Update(ctx, "/a", r1, []byte("two"))
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	if _, err := s.Create(ctx, "/b", []byte("b")); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	d, err := s.Delete(ctx, "/b", 0)
	if err != nil {
		t.Fatalf("Delete() error = %v", err)
	}
	if _, converted := s.Converted(); converted {
		t.Error("Converted() = true for a new file")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = openAt(t, path, Options{})
	if _, converted := s.Converted(); converted {
		t.Error("Converted() = true for a file already in the current format")
	}
	kv, err := s.Get(ctx, "/a")
	if err != nil || string(kv.Value) != "two" || kv.Revision != r2 || kv.CreateRevision != r1 {
		t.Errorf("Get() after reopen = %+v, %v, want %q at %d created %d", kv, err, "two", r2, r1)
	}
	if rev, err := s.CurrentRevision(ctx); err != nil || rev != d.Revision {
		t.Errorf("CurrentRevision() after reopen = %d, %v, want %d", rev, err, d.Revision)
	}
	// The event log survives: a watch from before the restart replays it.
	w, err := s.Watch(ctx, "/", r1)
	if err != nil {
		t.Fatalf("Watch() error = %v", err)
	}
	defer w.Stop()
	var got []int64
	for range 3 {
		ev := <-w.Events()
		got = append(got, ev.KV.Revision)
	}
	if want := []int64{r2, r2 + 1, d.Revision}; !slices.Equal(got, want) {
		t.Errorf("replayed revisions = %v, want %v", got, want)
	}
	if rev, err := s.Create(ctx, "/c", nil); err != nil || rev != d.Revision+1 {
		t.Errorf("Create() after reopen = %d, %v, want %d", rev, err, d.Revision+1)
	}
}

// openAt opens path and closes the store at the end of the test.
func openAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("store file mode = %o, want 600", got)
	}
}

func TestSecondOpenerFailsQuickly(t *testing.T) {
	t.Parallel()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends like a second process would.
	s := openTest(t, Options{})
	start := time.Now()
	_, err := Open(s.Path(), Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatalf("second Open() succeeded, want a lock error")
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("second Open() error = %v, want a timeout naming %s", err, s.Path())
	}
	// Bounded, not hanging: generous for a loaded machine.
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("second Open() waited %v", waited)
	}
	// The first store still works.
	if _, err := s.Create(t.Context(), "/a", []byte("v")); err != nil {
		t.Errorf("Create() on the first store error = %v", err)
	}
}

func TestCorruptFileRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()

	// A file that is not bbolt at all.
	garbage := filepath.Join(dir, "garbage.db")
	content := bytes.Repeat([]byte("not a database "), 1000)
	if err := os.WriteFile(garbage, content, 0o600); err != nil {
		t.Fatal(err)
	}
	// A real store whose meta pages were overwritten.
	smashed := filepath.Join(dir, "smashed.db")
	s, err := Open(smashed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := s.Create(ctx, fmt.Sprintf("/k/%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	f, err := os.OpenFile(smashed, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Both meta pages live in the first two pages of the file.
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 2*4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A bbolt file made by something else.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("kv")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, path := range []string{garbage, smashed, foreign} {
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded, want an error", path)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
			t.Errorf("Open(%s) error = %q, want it to name the file and the fix", path, err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("Open(%s) changed the refused file", path)
		}
	}
}

func TestSlowWatcherIsDroppedNotBlocking(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, Options{WatchBufferSize: 8})
	slow, err := s.Watch(ctx, "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	// The writer finishes although the watcher never reads.
	const writes = 100
	for i := range writes {
		if _, err := s.Create(ctx, fmt.Sprintf("/k/%03d", i), []byte("v")); err != nil {
			t.Fatalf("Create() error = %v (writers must not wait for watchers)", err)
		}
	}
	// The slow watcher gets its buffered events, in order, then ErrCompacted.
	var got []string
	for ev := range slow.Events() {
		got = append(got, ev.KV.Key)
	}
	want := []string{"/k/000", "/k/001", "/k/002", "/k/003", "/k/004", "/k/005", "/k/006", "/k/007"}
	if !slices.Equal(got, want) {
		t.Errorf("slow watcher received %v, want %v", got, want)
	}
	if err := slow.Err(); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("slow watcher Err() = %v, want %v", err, storage.ErrCompacted)
	}
	// A watcher that keeps up is never dropped.
	fast, err := s.Watch(ctx, "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	for i := range 50 {
		rev, err := s.Create(ctx, fmt.Sprintf("/f/%03d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev, ok := <-fast.Events():
			if !ok || ev.KV.Revision != rev {
				t.Fatalf("fast watcher event %d = %+v, %v, want revision %d", i, ev, fast.Err(), rev)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("fast watcher got %d events", i)
		}
	}
}

// TestCommitFitsWatchBuffer: concurrent writers share transactions, and
// one transaction never carries more events than a watcher's buffer
// holds; otherwise a watcher that had read everything would be dropped by
// a single commit (with the default buffer of 256, a burst of 300
// concurrent writes did it).
func TestCommitFitsWatchBuffer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const buffer, writers, each = 32, 128, 4
	s := openTest(t, Options{WatchBufferSize: buffer})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Create(ctx, fmt.Sprintf("/k/%03d-%d", g, i), []byte("v")); err != nil {
					t.Errorf("Create() error = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	commits, writes, largest := s.commits.Load(), s.writes.Load(), s.largestCommit.Load()
	t.Logf("%d writes in %d commits, at most %d in one", writes, commits, largest)
	if largest > buffer {
		t.Errorf("a transaction carried %d writes, more than the watch buffer of %d", largest, buffer)
	}
	if writes != writers*each || largest < 2 {
		t.Errorf("%d writes, at most %d in one commit: the writers never shared a transaction, so this test proves nothing", writes, largest)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, Options{HistorySize: 10})
	for i := range 30 {
		if _, err := s.Create(ctx, fmt.Sprintf("/k/%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketEvents).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Errorf("event log holds %d entries, want 10", n)
	}
	if _, err := s.Watch(ctx, "/", 19); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("Watch(from 19 of 30, history 10) error = %v, want %v", err, storage.ErrCompacted)
	}
	w, err := s.Watch(ctx, "/", 20)
	if err != nil {
		t.Fatalf("Watch(from 20) error = %v", err)
	}
	defer w.Stop()
	if ev := <-w.Events(); ev.KV.Revision != 21 {
		t.Errorf("first replayed event at %d, want 21", ev.KV.Revision)
	}
	// A list continued at a revision that left the log is compacted; the
	// same list started afresh works.
	res, err := s.List(ctx, "/k/", storage.ListOptions{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Eleven more writes push revision 30 out of a ten-entry log.
	for i := range 11 {
		if _, err := s.Create(ctx, fmt.Sprintf("/z/%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.List(ctx, "/k/", storage.ListOptions{Limit: 5, Continue: res.Continue}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List(continue beyond history) error = %v, want %v", err, storage.ErrCompacted)
	}
}

func TestThousandWatchers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, Options{})
	const watchers, writes = 1000, 20
	ws := make([]storage.Watcher, watchers)
	for i := range ws {
		w, err := s.Watch(ctx, "/", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ws[i] = w
	}
	var last int64
	for i := range writes {
		rev, err := s.Create(ctx, fmt.Sprintf("/k/%d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		last = rev
	}
	for i, w := range ws {
		for j := range writes {
			select {
			case ev := <-w.Events():
				if ev.KV.Revision != last-writes+1+int64(j) {
					t.Fatalf("watcher %d event %d at %d", i, j, ev.KV.Revision)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("watcher %d got %d of %d events", i, j, writes)
			}
		}
	}
}

func TestCloseAnswersQueuedWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			_, err := s.Create(ctx, fmt.Sprintf("/k/%d", i), []byte("v"))
			errs <- err
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Create() racing Close error = %v, want nil or %v", err, ErrClosed)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	if _, err := s.Create(t.Context(), "", []byte("v")); err == nil {
		t.Errorf("Create(empty key) succeeded")
	}
	if _, err := s.Create(t.Context(), strings.Repeat("k", maxKeySize+1), []byte("v")); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Create(huge key) error = %v, want %v", err, storage.ErrTooLarge)
	}
}
