package bolt

import (
	"fmt"

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
// events. The pages the old layout used become free pages of the file,
// which later writes reuse; bbolt never shrinks a file.
func convertFormat1(tx *bbolt.Tx) error {
	values, err := tx.CreateBucket(bucketValues)
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	values.FillPercent = 1.0
	log := tx.Bucket(bucketEvents)
	type logged struct {
		key []byte
		rec record
	}
	// Collected first: bbolt forbids changing a bucket during ForEach.
	var events []logged
	err = log.ForEach(func(k, v []byte) error {
		if _, err := decodeRevision(k); err != nil {
			return err
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		if rec.typ != storage.EventDeleted {
			if err := values.Put(k, rec.value); err != nil {
				return err
			}
		}
		if rec.typ != storage.EventCreated {
			if err := values.Put(encodeRevision(rec.prevModRev), rec.prev); err != nil {
				return err
			}
		}
		events = append(events, logged{key: k, rec: rec.logged()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	for _, e := range events {
		if err := log.Put(e.key, encodeRecord(e.rec)); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	kv := tx.Bucket(bucketKV)
	type index struct {
		key               []byte
		createRev, modRev int64
	}
	var keys []index
	err = kv.ForEach(func(k, v []byte) error {
		createRev, modRev, value, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		keys = append(keys, index{key: k, createRev: createRev, modRev: modRev})
		return values.Put(encodeRevision(modRev), value)
	})
	if err != nil {
		return fmt.Errorf("convert format 1: %w", err)
	}
	for _, x := range keys {
		if err := kv.Put(x.key, encodeIndex(x.createRev, x.modRev)); err != nil {
			return fmt.Errorf("convert format 1: %w", err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, encodeRevision(formatVersion))
}
