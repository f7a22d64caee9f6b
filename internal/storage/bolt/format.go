package bolt

import (
	"cmp"
	"fmt"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// convertBatch is how many values one transaction of convertFormat1
// copies, which bounds the memory the conversion needs (about 1 KB per
// value of a CSR) whatever the size of the store.
const convertBatch = 5000

// convertFormat1 rewrites a version 1 file as version 2.
//
// Version 1 kept each value with its key in the kv bucket and, in the
// event log, a copy of every mutation's value and previous value. Version
// 2 keeps each value once, in the values bucket under the revision that
// wrote it; the kv bucket holds the key's revisions and the log the
// events without values. Every value version 1 could serve is kept: the
// current values, and the values and previous values of the logged
// events.
//
// The values are copied first, in revision order (so into full pages) and
// in transactions of convertBatch values, while the file stays version 1
// and reads them from where version 1 keeps them; a crash meanwhile leaves
// a version 1 file whose partial values bucket the next Open discards and
// builds again. One last transaction then builds the kv and events buckets
// anew and records version 2, so a file is either version 1 or wholly
// version 2. The buckets are built anew rather than rewritten in place:
// bbolt merges pages only when keys are deleted, so shrinking each record
// in place would leave every old page in use, nearly empty. The old pages
// become free pages of the file, which later writes reuse; bbolt never
// shrinks a file.
func convertFormat1(db *bbolt.DB) error {
	sources, err := format1Values(db)
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketValues) != nil {
			if err := tx.DeleteBucket(bucketValues); err != nil {
				return err
			}
		}
		_, err := tx.CreateBucket(bucketValues)
		return err
	})
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	for batch := range slices.Chunk(sources, convertBatch) {
		if err := db.Update(func(tx *bbolt.Tx) error { return copyFormat1Values(tx, batch) }); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	if err := db.Update(rebuildFormat1Index); err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	return nil
}

// valueSource says where a version 1 file keeps the value written at
// revision rev: with key in the kv bucket, or in the event logged at
// revision event, as its value or (prev) as its previous value.
type valueSource struct {
	rev   int64
	key   []byte
	event int64
	prev  bool
}

// format1Values lists, in revision order, the values a version 1 file
// holds and where.
func format1Values(db *bbolt.DB) ([]valueSource, error) {
	var sources []valueSource
	err := db.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
			_, modRev, _, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			sources = append(sources, valueSource{rev: modRev, key: clone(k)})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			rev, rec, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			if rec.typ != storage.EventDeleted {
				sources = append(sources, valueSource{rev: rev, event: rev})
			}
			if rec.typ != storage.EventCreated {
				sources = append(sources, valueSource{rev: rec.prevModRev, event: rev, prev: true})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// The same value may be both current and logged; one copy suffices.
	slices.SortStableFunc(sources, func(a, b valueSource) int { return cmp.Compare(a.rev, b.rev) })
	return slices.CompactFunc(sources, func(a, b valueSource) bool { return a.rev == b.rev }), nil
}

// copyFormat1Values copies the values of sources into the values bucket.
func copyFormat1Values(tx *bbolt.Tx, sources []valueSource) error {
	values := tx.Bucket(bucketValues)
	values.FillPercent = 1.0
	kv, log := tx.Bucket(bucketKV), tx.Bucket(bucketEvents)
	for _, src := range sources {
		var value []byte
		if src.key != nil {
			b := kv.Get(src.key)
			if b == nil {
				return fmt.Errorf("key %q vanished", src.key)
			}
			_, _, v, err := decodeValue(b)
			if err != nil {
				return fmt.Errorf("key %q: %w", src.key, err)
			}
			value = v
		} else {
			b := log.Get(encodeRevision(src.event))
			if b == nil {
				return fmt.Errorf("event %d vanished", src.event)
			}
			rec, err := decodeRecord(b)
			if err != nil {
				return fmt.Errorf("event %d: %w", src.event, err)
			}
			value = rec.value
			if src.prev {
				value = rec.prev
			}
		}
		if err := values.Put(encodeRevision(src.rev), value); err != nil {
			return err
		}
	}
	return nil
}

// rebuildFormat1Index replaces the kv and events buckets of a version 1
// file, whose values copyFormat1Values copied, by their version 2 forms,
// and records version 2.
func rebuildFormat1Index(tx *bbolt.Tx) error {
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
	)
	values := tx.Bucket(bucketValues)
	err := tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
		createRev, modRev, _, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		if values.Get(encodeRevision(modRev)) == nil {
			return fmt.Errorf("key %q: value at revision %d not copied", k, modRev)
		}
		keys = append(keys, index{key: clone(k), createRev: createRev, modRev: modRev})
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		rec = rec.logged()
		events = append(events, logged{key: clone(k), rec: rec})
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketKV, bucketEvents} {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
	}
	kv, err := tx.CreateBucket(bucketKV)
	if err != nil {
		return err
	}
	kv.FillPercent = 1.0
	for _, x := range keys {
		if err := kv.Put(x.key, encodeIndex(x.createRev, x.modRev)); err != nil {
			return err
		}
	}
	log, err := tx.CreateBucket(bucketEvents)
	if err != nil {
		return err
	}
	log.FillPercent = 1.0
	for _, e := range events {
		if err := log.Put(e.key, encodeRecord(e.rec)); err != nil {
			return err
		}
	}
	// Every event's values must now be there, or the file is not whole.
	for _, e := range events {
		rev, err := decodeRevision(e.key)
		if err != nil {
			return err
		}
		r := e.rec
		if err := r.load(values, rev); err != nil {
			return fmt.Errorf("event %d: %w", rev, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, encodeRevision(formatVersion))
}
