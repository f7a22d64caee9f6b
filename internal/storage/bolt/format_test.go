package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// format1Op is one mutation written by writeFormat1.
type format1Op struct {
	typ   storage.EventType
	key   string
	value string
}

// writeFormat1 writes, with bbolt directly, the file that the version 1
// store left after ops (revisions 1, 2, ...) and a compaction to
// compacted: each value with its key in the kv bucket, and in the log
// the events after compacted carrying their value and previous value.
// It returns the events a watch from compacted must replay.
func writeFormat1(t *testing.T, path string, ops []format1Op, compacted int64) []storage.Event {
	t.Helper()
	type state struct {
		createRev, modRev int64
		value             []byte
	}
	current := map[string]state{}
	var logged []record
	var want []storage.Event
	for i, o := range ops {
		rev := int64(i + 1)
		old, exists := current[o.key]
		rec := record{typ: o.typ, key: o.key, createRev: rev, value: []byte(o.value)}
		if o.typ != storage.EventCreated {
			if !exists {
				t.Fatalf("op %d: event type %d on absent key %s", rev, o.typ, o.key)
			}
			rec.createRev, rec.prevModRev, rec.prev = old.createRev, old.modRev, old.value
		}
		if o.typ == storage.EventDeleted {
			rec.value = nil
			delete(current, o.key)
		} else {
			current[o.key] = state{createRev: rec.createRev, modRev: rev, value: rec.value}
		}
		logged = append(logged, rec)
		if rev > compacted {
			want = append(want, rec.event(rev))
		}
	}
	updateFile(t, path, func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		kv, err := tx.CreateBucket(bucketKV)
		if err != nil {
			return err
		}
		log, err := tx.CreateBucket(bucketEvents)
		if err != nil {
			return err
		}
		for k, st := range current {
			if err := kv.Put([]byte(k), encodeValue(st.createRev, st.modRev, st.value)); err != nil {
				return err
			}
		}
		for i, rec := range logged {
			if rev := int64(i + 1); rev > compacted {
				if err := log.Put(encodeRevision(rev), encodeRecord(rec)); err != nil {
					return err
				}
			}
		}
		for k, v := range map[string]int64{string(keyVersion): formatVersion1, string(keyRevision): int64(len(ops)), string(keyCompacted): compacted} {
			if err := meta.Put([]byte(k), encodeRevision(v)); err != nil {
				return err
			}
		}
		return nil
	})
	return want
}

// addValues puts values by revision into the values bucket of the file,
// creating the bucket if needed.
func addValues(t *testing.T, path string, values map[int64]string) {
	t.Helper()
	updateFile(t, path, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketValues)
		if err != nil {
			return err
		}
		for rev, v := range values {
			if err := b.Put(encodeRevision(rev), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// updateFile runs fn in one write transaction on the bbolt file at path,
// with no Store around it.
func updateFile(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileFormat returns the format version recorded in the store file.
func fileFormat(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int64
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		v, err = decodeRevision(tx.Bucket(bucketMeta).Get(keyVersion))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenConvertsFormat1(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	ops := []format1Op{
		{storage.EventCreated, "/a", "a1"},         // 1
		{storage.EventCreated, "/b", "b1"},         // 2
		{storage.EventUpdated, "/a", "a2"},         // 3
		{storage.EventCreated, "/c", "c1"},         // 4
		{storage.EventDeleted, "/b", ""},           // 5
		{storage.EventUpdated, "/a", "a3"},         // 6
		{storage.EventCreated, "/d", ""},           // 7: an empty value
		{storage.EventUpdated, "/c", "c2"},         // 8
		{storage.EventCreated, "/e", "e1"},         // 9
		{storage.EventDeleted, "/e", ""},           // 10
		{storage.EventCreated, "/e", "e2"},         // 11: the key again
		{storage.EventCreated, "/x/1", "outside"},  // 12
		{storage.EventUpdated, "/x/1", "outside2"}, // 13
	}
	want := writeFormat1(t, path, ops, 2)
	if got := fileFormat(t, path); got != formatVersion1 {
		t.Fatalf("written format = %d, want %d", got, formatVersion1)
	}
	// A conversion interrupted by a crash left a partial values bucket,
	// with a value that is not the one to keep and one no event needs.
	addValues(t, path, map[int64]string{6: "stale", 99: "unneeded"})

	s := openAt(t, path, Options{})
	if _, converted := s.Converted(); !converted {
		t.Error("Converted() = false after opening a format 1 file")
	}
	if rev, err := s.CurrentRevision(ctx); err != nil || rev != 13 {
		t.Errorf("CurrentRevision() = %d, %v, want 13", rev, err)
	}
	for _, tc := range []struct {
		key                 string
		value               string
		revision, createRev int64
	}{
		{"/a", "a3", 6, 1}, {"/c", "c2", 8, 4}, {"/d", "", 7, 7}, {"/e", "e2", 11, 11}, {"/x/1", "outside2", 13, 12},
	} {
		kv, err := s.Get(ctx, tc.key)
		if err != nil || string(kv.Value) != tc.value || kv.Value == nil || kv.Revision != tc.revision || kv.CreateRevision != tc.createRev {
			t.Errorf("Get(%s) = %+v, %v, want %q at %d created %d", tc.key, kv, err, tc.value, tc.revision, tc.createRev)
		}
	}
	if _, err := s.Get(ctx, "/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(/b) error = %v, want not found", err)
	}

	// A watch from the compacted revision replays the converted log with
	// every value and previous value.
	w, err := s.Watch(ctx, "/", 2)
	if err != nil {
		t.Fatalf("Watch() error = %v", err)
	}
	defer w.Stop()
	var got []storage.Event
	timeout := time.After(30 * time.Second)
	for len(got) < len(want) {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d events: %v", len(got), w.Err())
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("watch delivered %d of %d events", len(got), len(want))
		}
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("replayed events (-want +got):\n%s", diff)
	}
	if _, err := s.Watch(ctx, "/", 1); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("Watch() from before the compaction error = %v, want compacted", err)
	}

	// A list continued at revision 4 sees the keys as they were then.
	res, err := s.List(ctx, "/", storage.ListOptions{Continue: storage.EncodeContinue(4, "/a")})
	if err != nil {
		t.Fatalf("List() at revision 4 error = %v", err)
	}
	var items []string
	for _, kv := range res.Items {
		items = append(items, fmt.Sprintf("%s=%s@%d/%d", kv.Key, kv.Value, kv.Revision, kv.CreateRevision))
	}
	if diff := cmp.Diff([]string{"/b=b1@2/2", "/c=c1@4/4"}, items); diff != "" {
		t.Errorf("List() at revision 4 (-want +got):\n%s", diff)
	}

	if have, need := storedRevisions(t, s); !slices.Equal(have, need) {
		t.Errorf("stored value revisions = %v, want %v", have, need)
	}

	// Writes continue the revisions, and the file stays converted.
	if rev, err := s.Update(ctx, "/a", 6, []byte("a4")); err != nil || rev != 14 {
		t.Errorf("Update(/a) = %d, %v, want 14", rev, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileFormat(t, path); got != formatVersion {
		t.Errorf("format after Open = %d, want %d", got, formatVersion)
	}
	checkFile(t, path)
	s = openAt(t, path, Options{})
	if kv, err := s.Get(ctx, "/a"); err != nil || string(kv.Value) != "a4" || kv.Revision != 14 {
		t.Errorf("Get(/a) after reopening = %+v, %v, want a4 at 14", kv, err)
	}
}

// storedRevisions returns the revisions the values bucket holds, and the
// ones it must hold: each current key's mod revision and the previous
// revision of each logged update or delete.
func storedRevisions(t *testing.T, s *Store) (have, need []int64) {
	t.Helper()
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketValues).ForEach(func(k, _ []byte) error {
			rev, err := decodeRevision(k)
			have = append(have, rev)
			return err
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketKV).ForEach(func(_, v []byte) error {
			_, modRev, err := decodeIndex(v)
			need = append(need, modRev)
			return err
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketEvents).ForEach(func(_, v []byte) error {
			rec, err := decodeRecord(v)
			if rec.typ != storage.EventCreated {
				need = append(need, rec.prevModRev)
			}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(need)
	return have, slices.Compact(need)
}

func TestValuesLeaveWithTheLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t, Options{HistorySize: 5})
	rev, err := s.Create(ctx, "/a", []byte("a0"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if rev, err = s.Update(ctx, "/a", rev, fmt.Appendf(nil, "a%d", i+1)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			key := fmt.Sprintf("/b/%d", i)
			if _, err := s.Create(ctx, key, []byte("b")); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if _, err := s.Delete(ctx, key, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		have, need := storedRevisions(t, s)
		if diff := cmp.Diff(need, have); diff != "" {
			t.Fatalf("after update %d, stored value revisions (-need +have):\n%s", i+1, diff)
		}
	}
	cur, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	have, need := storedRevisions(t, s)
	if diff := cmp.Diff(need, have); diff != "" {
		t.Errorf("after compacting, stored value revisions (-need +have):\n%s", diff)
	}
	// Only the current values remain: /a and the /b keys never deleted.
	if want := 1 + 3; len(have) != want {
		t.Errorf("after compacting, %d values stored (%v), want %d", len(have), have, want)
	}
}

func TestOpenConvertsFormat1InBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	n := 2*convertBatch + 7
	var ops []format1Op
	for i := range n {
		ops = append(ops, format1Op{storage.EventCreated, fmt.Sprintf("/k/%05d", i), fmt.Sprintf("v%d", i)})
	}
	for i := 0; i < n; i += 97 {
		ops = append(ops, format1Op{storage.EventUpdated, fmt.Sprintf("/k/%05d", i), fmt.Sprintf("w%d", i)})
	}
	compacted := int64(len(ops) - 150)
	want := writeFormat1(t, path, ops, compacted)

	s := openAt(t, path, Options{})
	res, err := s.List(ctx, "/k/", storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != n {
		t.Fatalf("List() = %d items, want %d", len(res.Items), n)
	}
	for i, kv := range res.Items {
		value := fmt.Sprintf("v%d", i)
		if i%97 == 0 {
			value = fmt.Sprintf("w%d", i)
		}
		if string(kv.Value) != value {
			t.Fatalf("List() item %s = %q, want %q", kv.Key, kv.Value, value)
		}
	}
	if have, need := storedRevisions(t, s); !slices.Equal(have, need) {
		t.Errorf("stored value revisions: %d, want %d", len(have), len(need))
	}
	evs, _, _, err := s.readEvents(ctx, "/", compacted, len(want)+1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, evs, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("logged events (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileFormat(t, path); got != formatVersion {
		t.Errorf("format after Open = %d, want %d", got, formatVersion)
	}
	checkFile(t, path)
}
