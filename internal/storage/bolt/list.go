package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// List returns one page of the keys under prefix. Every page of a paginated
// list reads the store as it was at the first page's revision, as etcd
// does: keys changed since are taken back to their old state through the
// event log. A page continued after its revision left the log gives
// storage.ErrCompacted; the caller lists again from the start. Each page
// is one short read transaction.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	var (
		atRev   int64
		lastKey string
		cont    = opts.Continue != ""
	)
	if cont {
		var err error
		if atRev, lastKey, err = storage.DecodeContinue(prefix, opts.Continue); err != nil {
			return storage.ListResult{}, fmt.Errorf("list %q: %w", prefix, err)
		}
	}
	var res storage.ListResult
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		cur, err := metaRevision(tx, keyRevision)
		if err != nil {
			return err
		}
		if !cont {
			atRev = cur
			if opts.Revision > 0 {
				if opts.Revision > cur {
					return fmt.Errorf("revision %d is newer than the store (%d): %w", opts.Revision, cur, storage.ErrFutureRevision)
				}
				atRev = opts.Revision
			}
		}
		if atRev > cur {
			return fmt.Errorf("continue token at revision %d is newer than the store (%d): %w", atRev, cur, storage.ErrInvalidContinue)
		}
		var overlay map[string]*storage.KV
		if atRev < cur {
			if overlay, err = pastState(tx, prefix, lastKey, atRev); err != nil {
				return err
			}
		}
		res, err = page(tx, prefix, lastKey, cont, opts.Limit, overlay)
		res.Revision = atRev
		return err
	})
	if err != nil {
		return storage.ListResult{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	if res.Continue != "" {
		res.Continue = storage.EncodeContinue(atRev, res.Continue)
	}
	return res, nil
}

// pastState returns, for every key under prefix after lastKey that changed
// after revision atRev, its state at atRev: nil when it did not exist.
func pastState(tx *bbolt.Tx, prefix, lastKey string, atRev int64) (map[string]*storage.KV, error) {
	compacted, err := metaRevision(tx, keyCompacted)
	if err != nil {
		return nil, err
	}
	if atRev < compacted {
		return nil, fmt.Errorf("list at revision %d, history before %d is compacted: %w", atRev, compacted, storage.ErrCompacted)
	}
	overlay := make(map[string]*storage.KV)
	values := tx.Bucket(bucketValues)
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(encodeRevision(atRev + 1)); k != nil; k, v = c.Next() {
		rec, err := decodeRecord(v)
		if err != nil {
			return nil, fmt.Errorf("event %x: %w", k, err)
		}
		if !strings.HasPrefix(rec.key, prefix) || (lastKey != "" && rec.key <= lastKey) {
			continue
		}
		if _, seen := overlay[rec.key]; seen {
			continue // the first change after atRev tells the state at atRev
		}
		if rec.typ == storage.EventCreated {
			overlay[rec.key] = nil
			continue
		}
		prev, err := storedValue(values, rec.prevModRev)
		if err != nil {
			return nil, fmt.Errorf("event %x: %w", k, err)
		}
		overlay[rec.key] = &storage.KV{Key: rec.key, Value: clone(prev), Revision: rec.prevModRev, CreateRevision: rec.createRev}
	}
	return overlay, nil
}

// page merges the current keys with the overlay of past states, in key
// order, collecting up to limit items (all when limit is 0) and counting
// the rest. res.Continue is set to the last key when more follow.
func page(tx *bbolt.Tx, prefix, lastKey string, cont bool, limit int64, overlay map[string]*storage.KV) (storage.ListResult, error) {
	past := make([]string, 0, len(overlay))
	for k := range overlay {
		past = append(past, k)
	}
	slices.Sort(past)

	var res storage.ListResult
	var remaining int64
	emit := func(kv storage.KV) {
		if limit > 0 && int64(len(res.Items)) >= limit {
			remaining++
			return
		}
		res.Items = append(res.Items, kv)
	}
	values := tx.Bucket(bucketValues).Cursor()
	c := tx.Bucket(bucketKV).Cursor()
	pfx := []byte(prefix)
	k, v := c.Seek([]byte(prefix))
	if cont {
		k, v = c.Seek([]byte(lastKey))
		if k != nil && string(k) == lastKey {
			k, v = c.Next()
		}
	}
	for {
		if k != nil && !bytes.HasPrefix(k, pfx) {
			k = nil
		}
		if k == nil && len(past) == 0 {
			break
		}
		switch {
		case k != nil && (len(past) == 0 || string(k) < past[0]):
			if limit > 0 && int64(len(res.Items)) >= limit {
				remaining++ // counting only: no decoding
				break
			}
			createRev, modRev, err := decodeIndex(v)
			if err != nil {
				return res, fmt.Errorf("key %q: %w", k, err)
			}
			value, err := valueAt(values, modRev)
			if err != nil {
				return res, fmt.Errorf("key %q: %w", k, err)
			}
			emit(storage.KV{Key: string(k), Value: clone(value), Revision: modRev, CreateRevision: createRev})
		default:
			key := past[0]
			past = past[1:]
			if kv := overlay[key]; kv != nil {
				emit(*kv)
			}
			if k == nil || string(k) != key {
				continue // the current cursor key is still to come
			}
		}
		k, v = c.Next()
	}
	if remaining > 0 {
		res.Continue = res.Items[len(res.Items)-1].Key
		res.RemainingItemCount = &remaining
	}
	return res, nil
}
