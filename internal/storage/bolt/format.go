package bolt

import (
	"fmt"
	"maps"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// convertFormat1 rewrites a version 1 file as version 2 inside Open's
// transaction, so that a crash leaves either the old file or the
// converted one, never a mixture.
//
// Version 1 kept each value with its key in the kv bucket and, in the
// event log, a copy of every mutation's value and previous value. Version
// 2 keeps each value once, in the values bucket under the revision that
// wrote it; the kv bucket holds the key's revisions and the log the
// events without values. Every value version 1 could serve is kept: the
// current values, and the values and previous values of the logged
// events.
//
// The kv and events buckets are built anew rather than rewritten in
// place: bbolt merges pages only when keys are deleted, so shrinking each
// record in place would leave every old page in use, nearly empty. The
// new buckets and the values are written in key order into full pages.
// The old pages become free pages of the file, which later writes reuse;
// bbolt never shrinks a file.
func convertFormat1(tx *bbolt.Tx) error {
	type index struct {
		key               []byte
		createRev, modRev int64
	}
	type logged struct {
		key []byte
		rec record
	}
	var (
		keys   []index
		events []logged
		values = make(map[int64][]byte)
	)
	// Values alias the old pages, which stay intact until the
	// transaction commits (bbolt reuses freed pages only after that).
	err := tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
		createRev, modRev, value, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		keys = append(keys, index{key: clone(k), createRev: createRev, modRev: modRev})
		values[modRev] = value
		return nil
	})
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	err = tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		rev, err := decodeRevision(k)
		if err != nil {
			return err
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", rev, err)
		}
		if rec.typ != storage.EventDeleted {
			values[rev] = rec.value
		}
		if rec.typ != storage.EventCreated {
			values[rec.prevModRev] = rec.prev
		}
		events = append(events, logged{key: clone(k), rec: rec.logged()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	vb, err := tx.CreateBucket(bucketValues)
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	vb.FillPercent = 1.0
	for _, rev := range slices.Sorted(maps.Keys(values)) {
		if err := vb.Put(encodeRevision(rev), values[rev]); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	for _, name := range [][]byte{bucketKV, bucketEvents} {
		if err := tx.DeleteBucket(name); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	kv, err := tx.CreateBucket(bucketKV)
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	kv.FillPercent = 1.0
	for _, x := range keys {
		if err := kv.Put(x.key, encodeIndex(x.createRev, x.modRev)); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	log, err := tx.CreateBucket(bucketEvents)
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	log.FillPercent = 1.0
	for _, e := range events {
		if err := log.Put(e.key, encodeRecord(e.rec)); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, encodeRevision(formatVersion))
}
