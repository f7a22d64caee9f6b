// Package storagetest is the conformance suite that every
// [storage.Interface] implementation must pass. Each backend's tests call
// [Run] with a constructor; the suite never looks behind the interface
// except through the optional [Compactor].
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/storage"
)

// Compactor is implemented by stores whose history can be discarded on
// demand. Compact drops the history at and before revision, so that
// watches from, and lists continued at, an older revision fail with
// [storage.ErrCompacted]. The suite skips the compaction tests for stores
// that do not implement it.
type Compactor interface {
	Compact(ctx context.Context, revision int64) error
}

// testTimeout bounds every test of the suite.
const testTimeout = 60 * time.Second

// Run runs the conformance suite. newStore must return a fresh, empty store
// for each call (a new file, or a new key prefix on a shared cluster) and
// register its cleanup with t.Cleanup. Close must be safe to call more than
// once, since some tests close the store before the cleanup does.
func Run(t *testing.T, newStore func(t *testing.T) storage.Interface) {
	t.Helper()
	run(t, newStore, true)
}

// RunSerial runs the same suite one test at a time, for stores that share
// a backend whose revision other tests would move, such as an etcd
// cluster outside the test process: each test still gets its own store
// from newStore (its own key prefix), but no other test writes meanwhile.
func RunSerial(t *testing.T, newStore func(t *testing.T) storage.Interface) {
	t.Helper()
	run(t, newStore, false)
}

func run(t *testing.T, newStore func(t *testing.T) storage.Interface, parallel bool) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s storage.Interface)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"RevisionsIncreaseByOne", testRevisionsIncreaseByOne},
		{"ValueIsCopied", testValueIsCopied},
		{"TooLarge", testTooLarge},
		{"ListPrefixIsolation", testListPrefixIsolation},
		{"ListPaging", testListPaging},
		{"ListPagingSnapshotUnderWrites", testListPagingSnapshot},
		{"ListPagingConcurrentWriters", testListPagingConcurrentWriters},
		{"ListInvalidContinue", testListInvalidContinue},
		{"ListContinueCompacted", testListContinueCompacted},
		{"ListAtRevision", testListAtRevision},
		{"WatchFromNow", testWatchFromNow},
		{"WatchFromRevision", testWatchFromRevision},
		{"WatchFromCurrentRevision", testWatchFromCurrentRevision},
		{"WatchConcurrentWriters", testWatchConcurrentWriters},
		{"ManyWatchers", testManyWatchers},
		{"WatchCompacted", testWatchCompacted},
		{"WatchContextCancel", testWatchContextCancel},
		{"WatchStop", testWatchStop},
		{"CloseEndsWatches", testCloseEndsWatches},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			tc.fn(t, ctx, newStore(t))
		})
	}
}

func mustCreate(t *testing.T, ctx context.Context, s storage.Interface, key, value string) int64 {
	t.Helper()
	rev, err := s.Create(ctx, key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q) error = %v", key, err)
	}
	return rev
}

func mustRevision(t *testing.T, ctx context.Context, s storage.Interface) int64 {
	t.Helper()
	rev, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatalf("CurrentRevision() error = %v", err)
	}
	return rev
}

func testCreateGet(t *testing.T, ctx context.Context, s storage.Interface) {
	rev := mustCreate(t, ctx, s, "/csr/a", "one")
	if rev <= 0 {
		t.Fatalf("Create() revision = %d, want > 0", rev)
	}
	got, err := s.Get(ctx, "/csr/a")
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	want := storage.KV{Key: "/csr/a", Value: []byte("one"), Revision: rev, CreateRevision: rev}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get() mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Create(ctx, "/csr/a", []byte("two")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second Create() error = %v, want %v", err, storage.ErrExists)
	}
	if got, _ := s.Get(ctx, "/csr/a"); string(got.Value) != "one" {
		t.Errorf("value after refused Create = %q, want %q", got.Value, "one")
	}
	if _, err := s.Get(ctx, "/csr/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(missing) error = %v, want %v", err, storage.ErrNotFound)
	}
	if _, err := s.Get(ctx, "/csr"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(prefix of a key) error = %v, want %v", err, storage.ErrNotFound)
	}
	// An empty value is a value.
	erev := mustCreate(t, ctx, s, "/csr/empty", "")
	got, err = s.Get(ctx, "/csr/empty")
	if err != nil || len(got.Value) != 0 || got.Revision != erev {
		t.Errorf("Get(empty) = %+v, %v, want empty value at %d", got, err, erev)
	}
}

func testUpdate(t *testing.T, ctx context.Context, s storage.Interface) {
	crev := mustCreate(t, ctx, s, "/csr/a", "one")
	urev, err := s.Update(ctx, "/csr/a", crev, []byte("two"))
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	if urev != crev+1 {
		t.Errorf("Update() revision = %d, want %d", urev, crev+1)
	}
	got, err := s.Get(ctx, "/csr/a")
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	want := storage.KV{Key: "/csr/a", Value: []byte("two"), Revision: urev, CreateRevision: crev}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get() after Update mismatch (-want +got):\n%s", diff)
	}
	before := mustRevision(t, ctx, s)
	for _, stale := range []int64{crev, 0, urev + 1} {
		if _, err := s.Update(ctx, "/csr/a", stale, []byte("three")); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("Update(expected %d, current %d) error = %v, want %v", stale, urev, err, storage.ErrConflict)
		}
	}
	if _, err := s.Update(ctx, "/csr/missing", 1, []byte("x")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Update(missing) error = %v, want %v", err, storage.ErrNotFound)
	}
	if after := mustRevision(t, ctx, s); after != before {
		t.Errorf("failed updates moved the revision from %d to %d", before, after)
	}
	if got, _ := s.Get(ctx, "/csr/a"); string(got.Value) != "two" || got.Revision != urev {
		t.Errorf("after refused updates Get() = %q at %d, want %q at %d", got.Value, got.Revision, "two", urev)
	}
}

func testDelete(t *testing.T, ctx context.Context, s storage.Interface) {
	crev := mustCreate(t, ctx, s, "/csr/a", "one")
	urev, err := s.Update(ctx, "/csr/a", crev, []byte("two"))
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	if _, err := s.Delete(ctx, "/csr/a", crev); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Delete(stale revision) error = %v, want %v", err, storage.ErrConflict)
	}
	if _, err := s.Get(ctx, "/csr/a"); err != nil {
		t.Fatalf("key gone after refused Delete: %v", err)
	}
	got, err := s.Delete(ctx, "/csr/a", urev)
	if err != nil {
		t.Fatalf("Delete() error = %v", err)
	}
	want := storage.KV{Key: "/csr/a", Value: []byte("two"), Revision: urev + 1, CreateRevision: crev}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Delete() mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, "/csr/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(deleted) error = %v, want %v", err, storage.ErrNotFound)
	}
	if _, err := s.Delete(ctx, "/csr/a", 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete(deleted) error = %v, want %v", err, storage.ErrNotFound)
	}
	if _, err := s.Delete(ctx, "/csr/a", urev); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete(deleted, with revision) error = %v, want %v", err, storage.ErrNotFound)
	}

	// Without a precondition, and re-creating a deleted key.
	brev := mustCreate(t, ctx, s, "/csr/b", "b")
	got, err = s.Delete(ctx, "/csr/b", 0)
	if err != nil || got.Revision != brev+1 || string(got.Value) != "b" {
		t.Errorf("Delete(unconditional) = %+v, %v, want value %q at %d", got, err, "b", brev+1)
	}
	rrev := mustCreate(t, ctx, s, "/csr/b", "again")
	kv, err := s.Get(ctx, "/csr/b")
	if err != nil || kv.CreateRevision != rrev || string(kv.Value) != "again" {
		t.Errorf("Get(re-created) = %+v, %v, want created at %d", kv, err, rrev)
	}
}

func testRevisionsIncreaseByOne(t *testing.T, ctx context.Context, s storage.Interface) {
	last := mustRevision(t, ctx, s)
	step := func(what string, rev int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s error = %v", what, err)
		}
		if rev != last+1 {
			t.Fatalf("%s revision = %d, want %d", what, rev, last+1)
		}
		if cur := mustRevision(t, ctx, s); cur != rev {
			t.Fatalf("CurrentRevision() after %s = %d, want %d", what, cur, rev)
		}
		last = rev
	}
	for i := range 20 {
		key := fmt.Sprintf("/r/%d", i%3)
		kv, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rev, err := s.Create(ctx, key, []byte("v"))
			step("Create", rev, err)
		case err != nil:
			t.Fatalf("Get() error = %v", err)
		case i%4 == 0:
			d, err := s.Delete(ctx, key, kv.Revision)
			step("Delete", d.Revision, err)
		default:
			rev, err := s.Update(ctx, key, kv.Revision, []byte(fmt.Sprint(i)))
			step("Update", rev, err)
		}
		// Failed mutations never move the revision.
		_, _ = s.Update(ctx, "/r/none", 1, nil)
		_, _ = s.Delete(ctx, "/r/none", 0)
		if cur := mustRevision(t, ctx, s); cur != last {
			t.Fatalf("failed mutation moved the revision from %d to %d", last, cur)
		}
	}
}

func testValueIsCopied(t *testing.T, ctx context.Context, s storage.Interface) {
	buf := []byte("original")
	if _, err := s.Create(ctx, "/v/a", buf); err != nil {
		t.Fatalf("Create() error = %v", err)
	}
	copy(buf, "XXXXXXXX")
	kv, err := s.Get(ctx, "/v/a")
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	if string(kv.Value) != "original" {
		t.Errorf("Get() after caller changed its buffer = %q, want %q", kv.Value, "original")
	}
	// Values outlive the read: more writes must not change a value already returned.
	for i := range 50 {
		mustCreate(t, ctx, s, fmt.Sprintf("/v/fill-%d", i), strings.Repeat("z", 4096))
	}
	if string(kv.Value) != "original" {
		t.Errorf("returned value changed under later writes to %q", kv.Value)
	}
}

func testTooLarge(t *testing.T, ctx context.Context, s storage.Interface) {
	big := bytes.Repeat([]byte("x"), 3<<20)
	if _, err := s.Create(ctx, "/big/a", big); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Create(3 MiB) error = %v, want %v", err, storage.ErrTooLarge)
	}
	if _, err := s.Get(ctx, "/big/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get() after refused Create error = %v, want %v", err, storage.ErrNotFound)
	}
	okRev := mustCreate(t, ctx, s, "/big/b", strings.Repeat("y", 1<<20))
	if _, err := s.Update(ctx, "/big/b", okRev, big); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Update(3 MiB) error = %v, want %v", err, storage.ErrTooLarge)
	}
	if kv, err := s.Get(ctx, "/big/b"); err != nil || len(kv.Value) != 1<<20 {
		t.Errorf("Get(1 MiB value) = %d bytes, %v, want %d bytes", len(kv.Value), err, 1<<20)
	}
}

func keysOf(items []storage.KV) []string {
	keys := make([]string, len(items))
	for i, kv := range items {
		keys[i] = kv.Key
	}
	return keys
}

func testListPrefixIsolation(t *testing.T, ctx context.Context, s storage.Interface) {
	for _, k := range []string{"/b/1", "/a/2", "/ab/1", "/a/1", "/a", "/a/3/x"} {
		mustCreate(t, ctx, s, k, "v"+k)
	}
	cur := mustRevision(t, ctx, s)
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/a/", []string{"/a/1", "/a/2", "/a/3/x"}},
		{"/a", []string{"/a", "/a/1", "/a/2", "/a/3/x", "/ab/1"}},
		{"/ab/", []string{"/ab/1"}},
		{"/c/", []string{}},
		{"/", []string{"/a", "/a/1", "/a/2", "/a/3/x", "/ab/1", "/b/1"}},
	}
	for _, tc := range tests {
		res, err := s.List(ctx, tc.prefix, storage.ListOptions{})
		if err != nil {
			t.Fatalf("List(%q) error = %v", tc.prefix, err)
		}
		if diff := cmp.Diff(tc.want, keysOf(res.Items)); diff != "" {
			t.Errorf("List(%q) keys mismatch (-want +got):\n%s", tc.prefix, diff)
		}
		if res.Continue != "" {
			t.Errorf("List(%q) without limit has Continue %q", tc.prefix, res.Continue)
		}
		if res.Revision != cur {
			t.Errorf("List(%q) revision = %d, want %d", tc.prefix, res.Revision, cur)
		}
		for _, kv := range res.Items {
			if string(kv.Value) != "v"+kv.Key || kv.Revision == 0 || kv.CreateRevision != kv.Revision {
				t.Errorf("List(%q) item %+v has wrong value or revisions", tc.prefix, kv)
			}
		}
	}
}

// listAll pages through prefix with limit and returns every item, checking
// the page invariants on the way. between runs after each page.
func listAll(t *testing.T, ctx context.Context, s storage.Interface, prefix string, limit int64, between func(page int)) ([]storage.KV, int64) {
	t.Helper()
	var all []storage.KV
	var firstRev int64
	opts := storage.ListOptions{Limit: limit}
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatalf("List(%q) did not end after %d pages", prefix, page)
		}
		res, err := s.List(ctx, prefix, opts)
		if err != nil {
			t.Fatalf("List(%q, page %d) error = %v", prefix, page, err)
		}
		if page == 0 {
			firstRev = res.Revision
		} else if res.Revision != firstRev {
			t.Fatalf("page %d read at revision %d, first page at %d", page, res.Revision, firstRev)
		}
		if int64(len(res.Items)) > limit {
			t.Fatalf("page %d has %d items, limit %d", page, len(res.Items), limit)
		}
		all = append(all, res.Items...)
		if res.Continue == "" {
			if res.RemainingItemCount != nil && *res.RemainingItemCount != 0 {
				t.Fatalf("last page RemainingItemCount = %d, want 0", *res.RemainingItemCount)
			}
			return all, firstRev
		}
		if len(res.Items) == 0 {
			t.Fatalf("page %d is empty but has a Continue token", page)
		}
		if between != nil {
			between(page)
		}
		opts.Continue = res.Continue
	}
}

func testListPaging(t *testing.T, ctx context.Context, s storage.Interface) {
	const n = 2000
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("/p/%05d", i))
	}
	createAll(t, ctx, s, want, 16)
	mustCreate(t, ctx, s, "/pz", "outside")
	mustCreate(t, ctx, s, "/o/1", "outside")
	for _, limit := range []int64{1, 137, 500, n, n + 1} {
		if limit == 1 && testing.Short() {
			continue
		}
		items, _ := listAll(t, ctx, s, "/p/", limit, nil)
		if diff := cmp.Diff(want, keysOf(items)); diff != "" {
			t.Errorf("paging with limit %d mismatch (-want +got):\n%s", limit, diff)
		}
	}
	// RemainingItemCount, when given, counts exactly what follows.
	res, err := s.List(ctx, "/p/", storage.ListOptions{Limit: 300})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	seen := int64(len(res.Items))
	for res.Continue != "" {
		if res.RemainingItemCount != nil && *res.RemainingItemCount != n-seen {
			t.Fatalf("RemainingItemCount after %d items = %d, want %d", seen, *res.RemainingItemCount, n-seen)
		}
		res, err = s.List(ctx, "/p/", storage.ListOptions{Limit: 300, Continue: res.Continue})
		if err != nil {
			t.Fatalf("List() error = %v", err)
		}
		seen += int64(len(res.Items))
	}
	if seen != n {
		t.Errorf("paged %d items, want %d", seen, n)
	}
}

// createAll creates keys (value = key) with the given number of writers.
func createAll(t *testing.T, ctx context.Context, s storage.Interface, keys []string, writers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(keys); i += writers {
				if _, err := s.Create(ctx, keys[i], []byte(keys[i])); err != nil {
					errs <- fmt.Errorf("Create(%q): %w", keys[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// testListPagingSnapshot changes keys before and after the cursor between
// pages; every page must read the state at the first page's revision.
func testListPagingSnapshot(t *testing.T, ctx context.Context, s storage.Interface) {
	const n = 600
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("/s/%04d", i*2))
	}
	createAll(t, ctx, s, keys, 8)
	snapshot, err := s.List(ctx, "/s/", storage.ListOptions{})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	items, rev := listAll(t, ctx, s, "/s/", 50, func(page int) {
		// A new key behind and one ahead of the cursor, an update and a
		// delete ahead of it, and a re-creation.
		mustCreate(t, ctx, s, fmt.Sprintf("/s/%04d", page*2+1), "new")
		mustCreate(t, ctx, s, fmt.Sprintf("/s/%04d", (n-1-page)*2+1), "new")
		up := fmt.Sprintf("/s/%04d", (n-1-page)*2)
		kv, err := s.Get(ctx, up)
		if err != nil {
			t.Fatalf("Get(%q) error = %v", up, err)
		}
		if _, err := s.Update(ctx, up, kv.Revision, []byte("changed")); err != nil {
			t.Fatalf("Update(%q) error = %v", up, err)
		}
		del := fmt.Sprintf("/s/%04d", (n/2+page)*2)
		if _, err := s.Delete(ctx, del, 0); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Delete(%q) error = %v", del, err)
		}
	})
	if rev != snapshot.Revision {
		t.Fatalf("paged list read at %d, snapshot at %d", rev, snapshot.Revision)
	}
	if diff := cmp.Diff(snapshot.Items, items); diff != "" {
		t.Errorf("paged list under writes differs from the snapshot (-want +got):\n%s", diff)
	}
}

// testListPagingConcurrentWriters pages while other goroutines write: no
// key that existed at the first page's revision is lost or duplicated.
func testListPagingConcurrentWriters(t *testing.T, ctx context.Context, s storage.Interface) {
	const n = 1000
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("/c/%04d", i))
	}
	createAll(t, ctx, s, keys, 8)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("/c/%04d-w%d-%d", (i*37+w*101)%n, w, i)
				if _, err := s.Create(ctx, k, []byte("w")); err != nil {
					t.Errorf("Create(%q) error = %v", k, err)
					return
				}
			}
		})
	}
	items, _ := listAll(t, ctx, s, "/c/", 64, nil)
	close(stop)
	wg.Wait()
	seen := make(map[string]bool)
	for i, kv := range items {
		if seen[kv.Key] {
			t.Fatalf("key %q listed twice", kv.Key)
		}
		seen[kv.Key] = true
		if i > 0 && items[i-1].Key >= kv.Key {
			t.Fatalf("keys out of order: %q then %q", items[i-1].Key, kv.Key)
		}
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("key %q existed throughout but was not listed", k)
		}
	}
}

func testListInvalidContinue(t *testing.T, ctx context.Context, s storage.Interface) {
	mustCreate(t, ctx, s, "/i/a", "a")
	mustCreate(t, ctx, s, "/i/b", "b")
	mustCreate(t, ctx, s, "/j/a", "a")
	res, err := s.List(ctx, "/i/", storage.ListOptions{Limit: 1})
	if err != nil || res.Continue == "" {
		t.Fatalf("List(limit 1) = %+v, %v, want a continue token", res, err)
	}
	for _, token := range []string{"garbage", "e30", res.Continue + "x"} {
		if _, err := s.List(ctx, "/i/", storage.ListOptions{Limit: 1, Continue: token}); !errors.Is(err, storage.ErrInvalidContinue) {
			t.Errorf("List(continue %q) error = %v, want %v", token, err, storage.ErrInvalidContinue)
		}
	}
	// A token from one prefix is refused on another.
	if _, err := s.List(ctx, "/j/", storage.ListOptions{Limit: 1, Continue: res.Continue}); !errors.Is(err, storage.ErrInvalidContinue) {
		t.Errorf("List(other prefix's token) error = %v, want %v", err, storage.ErrInvalidContinue)
	}
}

func compactor(t *testing.T, s storage.Interface) Compactor {
	t.Helper()
	c, ok := s.(Compactor)
	if !ok {
		t.Skipf("%T does not implement storagetest.Compactor", s)
	}
	return c
}

func testListContinueCompacted(t *testing.T, ctx context.Context, s storage.Interface) {
	c := compactor(t, s)
	for i := range 10 {
		mustCreate(t, ctx, s, fmt.Sprintf("/k/%d", i), "v")
	}
	res, err := s.List(ctx, "/k/", storage.ListOptions{Limit: 3})
	if err != nil || res.Continue == "" {
		t.Fatalf("List(limit 3) = %+v, %v, want a continue token", res, err)
	}
	mustCreate(t, ctx, s, "/k/late", "v")
	if err := c.Compact(ctx, mustRevision(t, ctx, s)); err != nil {
		t.Fatalf("Compact() error = %v", err)
	}
	if _, err := s.List(ctx, "/k/", storage.ListOptions{Limit: 3, Continue: res.Continue}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List(continue after compaction) error = %v, want %v", err, storage.ErrCompacted)
	}
	// A fresh list still works.
	if res, err := s.List(ctx, "/k/", storage.ListOptions{}); err != nil || len(res.Items) != 11 {
		t.Errorf("List() after compaction = %d items, %v, want 11", len(res.Items), err)
	}
}

// testListAtRevision: a list at an earlier revision sees the keys as they
// were then, on its continued pages too; a future revision and a
// compacted one are refused with their errors.
func testListAtRevision(t *testing.T, ctx context.Context, s storage.Interface) {
	r1 := mustCreate(t, ctx, s, "/r/a", "a1")
	mustCreate(t, ctx, s, "/r/b", "b1")
	r3, err := s.Update(ctx, "/r/a", r1, []byte("a2"))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "/r/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "/r/b", kv.Revision); err != nil {
		t.Fatal(err)
	}
	now := mustCreate(t, ctx, s, "/r/c", "c1")
	values := func(items []storage.KV) []string {
		var out []string
		for _, kv := range items {
			out = append(out, kv.Key+"="+string(kv.Value))
		}
		return out
	}
	for _, tc := range []struct {
		rev  int64
		want []string
	}{
		{r1, []string{"/r/a=a1"}},
		{r1 + 1, []string{"/r/a=a1", "/r/b=b1"}},
		{r3, []string{"/r/a=a2", "/r/b=b1"}},
		{now, []string{"/r/a=a2", "/r/c=c1"}},
	} {
		// One item a page, so that every continued page must keep the revision.
		var got []string
		opts := storage.ListOptions{Limit: 1, Revision: tc.rev}
		for {
			res, err := s.List(ctx, "/r/", opts)
			if err != nil {
				t.Fatalf("List(revision %d) error = %v", tc.rev, err)
			}
			if res.Revision != tc.rev {
				t.Errorf("List(revision %d).Revision = %d", tc.rev, res.Revision)
			}
			got = append(got, values(res.Items)...)
			if res.Continue == "" {
				break
			}
			opts = storage.ListOptions{Limit: 1, Continue: res.Continue}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(revision %d) = %v, want %v", tc.rev, got, tc.want)
		}
	}
	if _, err := s.List(ctx, "/r/", storage.ListOptions{Revision: now + 5}); !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("List(revision %d, store at %d) error = %v, want %v", now+5, now, err, storage.ErrFutureRevision)
	}
	if err := compactor(t, s).Compact(ctx, now); err != nil {
		t.Fatalf("Compact() error = %v", err)
	}
	if _, err := s.List(ctx, "/r/", storage.ListOptions{Revision: r1}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List(revision %d) after compaction to %d error = %v, want %v", r1, now, err, storage.ErrCompacted)
	}
}

// next waits for one event, failing the test after a deadline.
func next(t *testing.T, ctx context.Context, w storage.Watcher) storage.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended early: %v", w.Err())
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatalf("no watch event within 20s")
	case <-ctx.Done():
		t.Fatalf("no watch event: %v", ctx.Err())
	}
	return storage.Event{}
}

// collect reads n events.
func collect(t *testing.T, ctx context.Context, w storage.Watcher, n int) []storage.Event {
	t.Helper()
	evs := make([]storage.Event, 0, n)
	for range n {
		evs = append(evs, next(t, ctx, w))
	}
	return evs
}

// waitEnd waits for the watch's channel to close and returns Err.
func waitEnd(t *testing.T, w storage.Watcher) error {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return w.Err()
			}
		case <-deadline:
			t.Fatalf("watch did not end within 20s")
			return nil
		}
	}
}

func mustWatch(t *testing.T, ctx context.Context, s storage.Interface, prefix string, rev int64) storage.Watcher {
	t.Helper()
	w, err := s.Watch(ctx, prefix, rev)
	if err != nil {
		t.Fatalf("Watch(%q, %d) error = %v", prefix, rev, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// mutate applies a fixed mix of mutations under prefix and returns the
// events they must produce.
func mutate(t *testing.T, ctx context.Context, s storage.Interface, prefix string) []storage.Event {
	t.Helper()
	a := prefix + "a"
	b := prefix + "b"
	r1 := mustCreate(t, ctx, s, a, "a1")
	r2 := mustCreate(t, ctx, s, b, "b1")
	r3, err := s.Update(ctx, a, r1, []byte("a2"))
	if err != nil {
		t.Fatalf("Update() error = %v", err)
	}
	d, err := s.Delete(ctx, b, r2)
	if err != nil {
		t.Fatalf("Delete() error = %v", err)
	}
	return []storage.Event{
		{Type: storage.EventCreated, KV: storage.KV{Key: a, Value: []byte("a1"), Revision: r1, CreateRevision: r1}},
		{Type: storage.EventCreated, KV: storage.KV{Key: b, Value: []byte("b1"), Revision: r2, CreateRevision: r2}},
		{Type: storage.EventUpdated, KV: storage.KV{Key: a, Value: []byte("a2"), Revision: r3, CreateRevision: r1}, PrevValue: []byte("a1")},
		{Type: storage.EventDeleted, KV: storage.KV{Key: b, Value: []byte("b1"), Revision: d.Revision, CreateRevision: r2}, PrevValue: []byte("b1")},
	}
}

// compareEvents compares events; PrevValue is checked only where the store
// reports one, since the contract makes it optional.
func compareEvents(t *testing.T, want, got []storage.Event) {
	t.Helper()
	got = slices.Clone(got)
	for i := range got {
		if i < len(want) && got[i].PrevValue == nil {
			got[i].PrevValue = want[i].PrevValue
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// startRevision writes a key outside the watched prefixes, so that the
// store's revision is not 0 (which Watch reads as "from now"), and returns
// the current revision.
func startRevision(t *testing.T, ctx context.Context, s storage.Interface) int64 {
	t.Helper()
	mustCreate(t, ctx, s, fmt.Sprintf("/setup/%d", mustRevision(t, ctx, s)), "setup")
	return mustRevision(t, ctx, s)
}

func testWatchFromNow(t *testing.T, ctx context.Context, s storage.Interface) {
	mustCreate(t, ctx, s, "/w/before", "old")
	w := mustWatch(t, ctx, s, "/w/", 0)
	mustCreate(t, ctx, s, "/x/other", "not watched")
	want := mutate(t, ctx, s, "/w/")
	compareEvents(t, want, collect(t, ctx, w, len(want)))
	// Nothing else arrives: write a marker and expect it next.
	marker := mustCreate(t, ctx, s, "/w/marker", "m")
	if ev := next(t, ctx, w); ev.KV.Revision != marker {
		t.Errorf("event after the mutations = %+v, want the marker at %d", ev, marker)
	}
}

func testWatchFromRevision(t *testing.T, ctx context.Context, s storage.Interface) {
	start := startRevision(t, ctx, s)
	want := mutate(t, ctx, s, "/w/")
	// From the start: all history, then live events.
	w := mustWatch(t, ctx, s, "/w/", start)
	compareEvents(t, want, collect(t, ctx, w, len(want)))
	// From the middle: only the later events.
	w2 := mustWatch(t, ctx, s, "/w/", want[1].KV.Revision)
	compareEvents(t, want[2:], collect(t, ctx, w2, 2))
	live := mutate(t, ctx, s, "/w/live-")
	compareEvents(t, live, collect(t, ctx, w, len(live)))
	compareEvents(t, live, collect(t, ctx, w2, len(live)))
}

func testWatchFromCurrentRevision(t *testing.T, ctx context.Context, s storage.Interface) {
	mustCreate(t, ctx, s, "/w/a", "1")
	cur := mustRevision(t, ctx, s)
	w := mustWatch(t, ctx, s, "/w/", cur)
	rev := mustCreate(t, ctx, s, "/w/b", "2")
	if ev := next(t, ctx, w); ev.KV.Revision != rev || ev.KV.Key != "/w/b" {
		t.Errorf("first event = %+v, want /w/b at %d", ev, rev)
	}
}

func testWatchConcurrentWriters(t *testing.T, ctx context.Context, s storage.Interface) {
	const writers, perWriter = 8, 60
	start := startRevision(t, ctx, s)
	w := mustWatch(t, ctx, s, "/cw/", start)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("/cw/%d", i)
			rev, err := s.Create(ctx, key, []byte("0"))
			if err != nil {
				t.Errorf("Create(%q) error = %v", key, err)
				return
			}
			for j := 1; j < perWriter; j++ {
				rev, err = s.Update(ctx, key, rev, []byte(fmt.Sprint(j)))
				if err != nil {
					t.Errorf("Update(%q) error = %v", key, err)
					return
				}
			}
		})
	}
	evs := collect(t, ctx, w, writers*perWriter)
	wg.Wait()
	last := start
	perKey := make(map[string]int)
	for _, ev := range evs {
		if ev.KV.Revision <= last {
			t.Fatalf("event revision %d after %d: not strictly increasing", ev.KV.Revision, last)
		}
		last = ev.KV.Revision
		if want := fmt.Sprint(perKey[ev.KV.Key]); string(ev.KV.Value) != want {
			t.Fatalf("event for %s has value %q, want %q (lost or reordered event)", ev.KV.Key, ev.KV.Value, want)
		}
		perKey[ev.KV.Key]++
	}
	if cur := mustRevision(t, ctx, s); last != cur || cur-start != writers*perWriter {
		t.Errorf("last event at %d, store at %d, start %d: want %d events ending at the current revision", last, cur, start, writers*perWriter)
	}
}

func testManyWatchers(t *testing.T, ctx context.Context, s storage.Interface) {
	const watchers, writes = 100, 50
	start := startRevision(t, ctx, s)
	ws := make([]storage.Watcher, watchers)
	for i := range ws {
		ws[i] = mustWatch(t, ctx, s, "/m/", start)
	}
	for i := range writes {
		mustCreate(t, ctx, s, fmt.Sprintf("/m/%03d", i), "v")
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			for j := range writes {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						t.Errorf("watcher %d ended after %d events: %v", i, j, w.Err())
						return
					}
					if ev.KV.Revision != start+int64(j)+1 {
						t.Errorf("watcher %d event %d at revision %d, want %d", i, j, ev.KV.Revision, start+int64(j)+1)
						return
					}
				case <-ctx.Done():
					t.Errorf("watcher %d got %d of %d events: %v", i, j, writes, ctx.Err())
					return
				}
			}
		})
	}
	wg.Wait()
}

func testWatchCompacted(t *testing.T, ctx context.Context, s storage.Interface) {
	c := compactor(t, s)
	start := startRevision(t, ctx, s)
	for i := range 5 {
		mustCreate(t, ctx, s, fmt.Sprintf("/wc/%d", i), "v")
	}
	cur := mustRevision(t, ctx, s)
	if err := c.Compact(ctx, cur-1); err != nil {
		t.Fatalf("Compact() error = %v", err)
	}
	w, err := s.Watch(ctx, "/wc/", start)
	if err == nil {
		t.Cleanup(w.Stop)
		err = waitEnd(t, w)
	}
	if !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("Watch(from compacted %d) error = %v, want %v", start, err, storage.ErrCompacted)
	}
	// From the compaction point on, history is still there.
	w2 := mustWatch(t, ctx, s, "/wc/", cur-1)
	if ev := next(t, ctx, w2); ev.KV.Revision != cur {
		t.Errorf("Watch(from %d) first event at %d, want %d", cur-1, ev.KV.Revision, cur)
	}
}

func testWatchContextCancel(t *testing.T, ctx context.Context, s storage.Interface) {
	wctx, cancel := context.WithCancel(ctx)
	w := mustWatch(t, wctx, s, "/wx/", 0)
	rev := mustCreate(t, ctx, s, "/wx/a", "v")
	if ev := next(t, ctx, w); ev.KV.Revision != rev {
		t.Fatalf("event = %+v, want revision %d", ev, rev)
	}
	cancel()
	if err := waitEnd(t, w); err != nil {
		t.Errorf("Err() after context cancel = %v, want nil", err)
	}
	// The store still works.
	mustCreate(t, ctx, s, "/wx/b", "v")
}

func testWatchStop(t *testing.T, ctx context.Context, s storage.Interface) {
	w := mustWatch(t, ctx, s, "/ws/", 0)
	other := mustWatch(t, ctx, s, "/ws/", 0)
	w.Stop()
	w.Stop()
	if err := waitEnd(t, w); err != nil {
		t.Errorf("Err() after Stop = %v, want nil", err)
	}
	// Writes after a Stop neither block nor reach the stopped watcher, and
	// the other watcher still sees them.
	for i := range 20 {
		mustCreate(t, ctx, s, fmt.Sprintf("/ws/%d", i), "v")
	}
	if evs := collect(t, ctx, other, 20); evs[19].KV.Key != "/ws/19" {
		t.Errorf("last event of the other watcher = %+v, want /ws/19", evs[19])
	}
}

func testCloseEndsWatches(t *testing.T, ctx context.Context, s storage.Interface) {
	w1 := mustWatch(t, ctx, s, "/wq/", 0)
	w2 := mustWatch(t, ctx, s, "/", 0)
	mustCreate(t, ctx, s, "/wq/a", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	waitEnd(t, w1)
	waitEnd(t, w2)
	if _, err := s.Get(ctx, "/wq/a"); err == nil {
		t.Errorf("Get() after Close succeeded, want an error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() error = %v, want nil", err)
	}
}

func testCanceledContext(t *testing.T, ctx context.Context, s storage.Interface) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Create(cctx, "/cc/a", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Create(canceled) error = %v, want %v", err, context.Canceled)
	}
	if _, err := s.Get(ctx, "/cc/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get() after canceled Create error = %v, want %v", err, storage.ErrNotFound)
	}
	rev := mustCreate(t, ctx, s, "/cc/b", "v")
	checks := map[string]error{}
	_, checks["Get"] = s.Get(cctx, "/cc/b")
	_, checks["List"] = s.List(cctx, "/cc/", storage.ListOptions{})
	_, checks["Update"] = s.Update(cctx, "/cc/b", rev, []byte("x"))
	_, checks["Delete"] = s.Delete(cctx, "/cc/b", 0)
	_, checks["CurrentRevision"] = s.CurrentRevision(cctx)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s(canceled) error = %v, want %v", name, err, context.Canceled)
		}
	}
	if kv, err := s.Get(ctx, "/cc/b"); err != nil || kv.Revision != rev {
		t.Errorf("Get() after canceled writes = %+v, %v, want unchanged at %d", kv, err, rev)
	}
	if w, err := s.Watch(cctx, "/cc/", 0); err == nil {
		if err := waitEnd(t, w); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(canceled) ended with %v, want nil or %v", err, context.Canceled)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Watch(canceled) error = %v, want %v", err, context.Canceled)
	}
}

// testConcurrentUpdates runs read-modify-write increments from many
// goroutines; optimistic concurrency must lose none.
func testConcurrentUpdates(t *testing.T, ctx context.Context, s storage.Interface) {
	const workers, increments = 8, 25
	mustCreate(t, ctx, s, "/cu/counter", "0")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				for attempt := 0; ; attempt++ {
					if attempt > 10000 {
						t.Errorf("increment did not succeed after %d attempts", attempt)
						return
					}
					kv, err := s.Get(ctx, "/cu/counter")
					if err != nil {
						t.Errorf("Get() error = %v", err)
						return
					}
					var n int
					fmt.Sscan(string(kv.Value), &n)
					_, err = s.Update(ctx, "/cu/counter", kv.Revision, []byte(fmt.Sprint(n+1)))
					if errors.Is(err, storage.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("Update() error = %v", err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	kv, err := s.Get(ctx, "/cu/counter")
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	if want := fmt.Sprint(workers * increments); string(kv.Value) != want {
		t.Errorf("counter = %s, want %s (lost updates)", kv.Value, want)
	}
}
