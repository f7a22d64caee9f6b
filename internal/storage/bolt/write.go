package bolt

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// opKind is what a queued write does.
type opKind int

const (
	opCreate opKind = iota + 1
	opUpdate
	opDelete
	opCompact
)

// op is one write waiting for the writer goroutine.
type op struct {
	ctx      context.Context
	kind     opKind
	key      string
	value    []byte
	expected int64 // expected revision; for opCompact the target revision
	done     chan result
}

// result is the outcome of an op. For writes kv.Revision is the new
// revision; for deletes kv is the deleted value.
type result struct {
	kv  storage.KV
	err error
}

// write validates o, queues it and waits for its outcome. When ctx ends
// first the outcome is unknown to the caller, as with any remote store.
func (s *Store) write(ctx context.Context, o *op) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	if o.kind != opCompact {
		if err := validKey(o.key); err != nil {
			return result{err: err}
		}
		if len(o.value) > s.opts.MaxValueSize {
			return result{err: fmt.Errorf("value of %d bytes exceeds %d: %w", len(o.value), s.opts.MaxValueSize, storage.ErrTooLarge)}
		}
		// The caller may reuse its buffer once we return, and watchers
		// keep the value, so the store owns a copy.
		o.value = clone(o.value)
	}
	o.ctx = ctx
	o.done = make(chan result, 1)
	select {
	case s.ops <- o:
	case <-s.closing:
		return result{err: ErrClosed}
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
	select {
	case r := <-o.done:
		return r
	case <-ctx.Done():
		return result{err: ctx.Err()}
	case <-s.writerDone():
		select {
		case r := <-o.done:
			return r
		default:
			return result{err: ErrClosed}
		}
	}
}

// writerDone returns a channel closed once the writer goroutine exited.
func (s *Store) writerDone() <-chan struct{} {
	return s.stopped
}

// writeLoop is the single writer: it takes every queued op (up to
// limit), commits them in one transaction and one fsync, publishes their
// events in revision order, then answers the callers.
func (s *Store) writeLoop() {
	defer s.writer.Done()
	defer close(s.stopped)
	// One transaction never carries more writes than a watch buffer
	// holds, so that its events always fit the buffer of a watcher that
	// has read everything before them: a watcher is dropped for falling
	// behind, never for the size of a single commit.
	limit := min(maxBatch, s.opts.WatchBufferSize)
	batch := make([]*op, 0, limit)
	last := 0
	for {
		select {
		case o := <-s.ops:
			batch = s.gather(append(batch[:0], o), limit, last)
			last = len(batch)
			s.commit(batch)
		case <-s.closing:
			for {
				select {
				case o := <-s.ops:
					o.done <- result{err: ErrClosed}
				default:
					return
				}
			}
		}
	}
}

// gather adds the queued ops to batch, up to limit. When the previous
// transaction carried last > 1 ops (concurrent writers), it then waits
// up to CommitDelay until the batch is as large again, so that one fsync
// serves as many writes as the writers' concurrency allows; a lone
// writer never waits. It returns early when the store is closing.
func (s *Store) gather(batch []*op, limit, last int) []*op {
	for len(batch) < limit {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
			continue
		default:
		}
		break
	}
	want := min(last, limit)
	if want <= 1 || s.opts.CommitDelay <= 0 || len(batch) >= want {
		return batch
	}
	t := time.NewTimer(s.opts.CommitDelay)
	defer t.Stop()
	for len(batch) < want {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-t.C:
			return batch
		case <-s.closing:
			return batch
		}
	}
	return batch
}

// commit applies ops in one transaction. If the transaction itself fails
// (a disk error), it retries each op alone so that one bad op cannot fail
// the others, then reports each op's own outcome.
func (s *Store) commit(ops []*op) {
	live := ops[:0:0]
	for _, o := range ops {
		if err := o.ctx.Err(); err != nil {
			o.done <- result{err: err}
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	results := make([]result, len(live))
	var events []storage.Event
	var rev int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		events = events[:0]
		var err error
		rev, events, err = s.apply(tx, live, results, events)
		return err
	})
	if err != nil {
		if len(live) > 1 {
			for _, o := range live {
				s.commit([]*op{o})
			}
			return
		}
		live[0].done <- result{err: commitError(s.path, err)}
		return
	}
	s.commits.Add(1)
	s.writes.Add(int64(len(events)))
	if n := int64(len(events)); n > s.largestCommit.Load() {
		s.largestCommit.Store(n) // the writer is the only one to store it
	}
	s.hub.publish(rev, events)
	for i, o := range live {
		o.done <- results[i]
	}
}

// apply runs ops inside tx, storing each op's outcome in results and
// appending the events of the successful ones. It returns the new store
// revision. A returned error aborts the transaction; refused ops (exists,
// conflict, not found) are outcomes, not errors, and write nothing.
func (s *Store) apply(tx *bbolt.Tx, ops []*op, results []result, events []storage.Event) (int64, []storage.Event, error) {
	kv := tx.Bucket(bucketKV)
	log := tx.Bucket(bucketEvents)
	values := tx.Bucket(bucketValues)
	// The log and the values, both keyed by revision, only ever grow at
	// their end: full pages, not half-full ones, are what stays behind.
	log.FillPercent = 1.0
	values.FillPercent = 1.0
	rev, err := metaRevision(tx, keyRevision)
	if err != nil {
		return 0, nil, err
	}
	compacted, err := metaRevision(tx, keyCompacted)
	if err != nil {
		return 0, nil, err
	}
	startRev := rev
	for i, o := range ops {
		if o.kind == opCompact {
			target := min(o.expected, rev)
			if target > compacted {
				if err := trimLog(log, values, target); err != nil {
					return 0, nil, err
				}
				compacted = target
			}
			continue
		}
		key := []byte(o.key)
		var (
			rec record
			res result
		)
		old := kv.Get(key)
		switch {
		case o.kind == opCreate && old != nil:
			res.err = storage.ErrExists
		case o.kind != opCreate && old == nil:
			res.err = storage.ErrNotFound
		case o.kind == opCreate:
			rec = record{typ: storage.EventCreated, key: o.key, createRev: rev + 1, value: o.value}
		default:
			createRev, modRev, err := decodeIndex(old)
			if err != nil {
				return 0, nil, fmt.Errorf("key %q: %w", o.key, err)
			}
			if (o.kind == opUpdate || o.expected != 0) && modRev != o.expected {
				res.err = fmt.Errorf("expected revision %d, key is at %d: %w", o.expected, modRev, storage.ErrConflict)
				break
			}
			oldValue, err := storedValue(values, modRev)
			if err != nil {
				return 0, nil, fmt.Errorf("key %q: %w", o.key, err)
			}
			// The event copies oldValue out of bbolt's memory, which the
			// writes below may reuse.
			rec = record{typ: storage.EventUpdated, key: o.key, createRev: createRev, prevModRev: modRev, value: o.value, prev: clone(oldValue)}
			if o.kind == opDelete {
				rec.typ, rec.value = storage.EventDeleted, nil
			}
		}
		if res.err != nil {
			results[i] = res
			continue
		}
		rev++
		if err := log.Put(encodeRevision(rev), encodeRecord(rec.logged())); err != nil {
			return 0, nil, err
		}
		// The previous value stays in the values bucket while this
		// event is in the log; trimLog removes it with the event.
		if rec.typ == storage.EventDeleted {
			err = kv.Delete(key)
		} else if err = values.Put(encodeRevision(rev), o.value); err == nil {
			err = kv.Put(key, encodeIndex(rec.createRev, rev))
		}
		if err != nil {
			return 0, nil, err
		}
		ev := rec.event(rev)
		results[i] = result{kv: ev.KV}
		events = append(events, ev)
	}
	if rev != startRev {
		if err := tx.Bucket(bucketMeta).Put(keyRevision, encodeRevision(rev)); err != nil {
			return 0, nil, err
		}
	}
	if limit := rev - int64(s.opts.HistorySize); limit > compacted {
		if err := trimLog(log, values, limit); err != nil {
			return 0, nil, err
		}
		compacted = limit
	}
	if err := tx.Bucket(bucketMeta).Put(keyCompacted, encodeRevision(compacted)); err != nil {
		return 0, nil, err
	}
	return rev, events, nil
}

// trimLog deletes the event log entries at and before revision, and with
// each update or delete the value it replaced: once the event that
// superseded a value has left the log, no watch replay and no continued
// list can ask for that value again. Current values are never superseded,
// so they stay.
func trimLog(log, values *bbolt.Bucket, revision int64) error {
	c := log.Cursor()
	// Re-seek after each delete: a bbolt cursor may skip an entry when
	// moved on after Delete.
	for k, v := c.First(); k != nil; k, v = c.First() {
		rev, err := decodeRevision(k)
		if err != nil {
			return err
		}
		if rev > revision {
			return nil
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", rev, err)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if rec.typ != storage.EventCreated {
			if err := values.Delete(encodeRevision(rec.prevModRev)); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitError describes a failed commit. A full disk or an exhausted quota
// wraps storage.ErrNoSpace: writes succeed again once space is freed, with
// no restart (reads go on meanwhile).
func commitError(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("commit to %s: the disk is full (%w): %w", path, err, storage.ErrNoSpace)
	}
	return fmt.Errorf("commit to %s: %w", path, err)
}
