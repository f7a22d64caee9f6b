package bolt

import (
	"context"
	"fmt"
	"strings"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// hub fans committed events out to live watchers. The writer calls
// publish once per transaction, in revision order; publish never blocks:
// a watcher whose buffer is full is ended with ErrCompacted (the API
// server then ends that stream cleanly and its client watches again from
// the last revision it saw, replayed from the event log while the log
// reaches back there), and writers never wait for readers.
type hub struct {
	mu       sync.Mutex
	lastRev  int64 // revision of the last published transaction
	watchers map[*watcher]struct{}
	closed   bool
	closeErr error
}

func (h *hub) init(rev int64) {
	h.lastRev = rev
	h.watchers = make(map[*watcher]struct{})
}

// publish delivers the events of one committed transaction ending at rev.
func (h *hub) publish(rev int64, events []storage.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastRev = rev
	for w := range h.watchers {
	deliver:
		for _, ev := range events {
			if ev.KV.Revision <= w.after || !strings.HasPrefix(ev.KV.Key, w.prefix) {
				continue
			}
			select {
			case w.ch <- ev:
				w.after = ev.KV.Revision
			default:
				delete(h.watchers, w)
				w.endLocked(fmt.Errorf("watch of %q fell %d events behind: %w", w.prefix, cap(w.ch), storage.ErrCompacted))
				break deliver
			}
		}
	}
}

// close ends every watch with err and refuses new ones.
func (h *hub) close(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed, h.closeErr = true, err
	for w := range h.watchers {
		delete(h.watchers, w)
		w.endLocked(err)
	}
}

// watcher is a running [storage.Watcher]. Until it is registered with the
// hub ("live") its replay goroutine is the only sender on ch; afterwards
// only the hub sends, under hub.mu. ch is closed exactly once, under hub.mu.
type watcher struct {
	s      *Store
	prefix string
	ch     chan storage.Event

	stopOnce  sync.Once
	stopCh    chan struct{}
	stopAfter func() bool // unregisters the context.AfterFunc

	// Guarded by s.hub.mu.
	after int64 // last revision sent; the hub skips events at or before it
	live  bool
	ended bool
	err   error
}

var _ storage.Watcher = (*watcher)(nil)

// Events returns the event channel, closed when the watch ends.
func (w *watcher) Events() <-chan storage.Event { return w.ch }

// Err reports why the watch ended.
func (w *watcher) Err() error {
	w.s.hub.mu.Lock()
	defer w.s.hub.mu.Unlock()
	return w.err
}

// Stop ends the watch with a nil error. It is idempotent.
func (w *watcher) Stop() {
	// stopAfter is set before Watch returns, so a caller's Stop sees it;
	// the context's own hook calls end, which never reads it.
	if w.stopAfter != nil {
		w.stopAfter()
	}
	w.end()
}

// end stops the watch once: Stop's work without unregistering the context
// hook, for the hook itself to call.
func (w *watcher) end() {
	w.stopOnce.Do(func() {
		close(w.stopCh)
		h := &w.s.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		if w.live {
			delete(h.watchers, w)
			w.endLocked(nil)
		}
	})
}

// endLocked closes the channel once, recording err. Callers hold hub.mu.
func (w *watcher) endLocked(err error) {
	if w.ended {
		return
	}
	w.ended, w.live, w.err = true, false, err
	close(w.ch)
}

// finish ends a watch that is not live.
func (w *watcher) finish(err error) {
	w.s.hub.mu.Lock()
	defer w.s.hub.mu.Unlock()
	w.endLocked(err)
}

// Watch streams the mutations under prefix after fromRevision: history
// from the event log first, then live events. fromRevision 0 means from
// the last committed revision. It returns storage.ErrCompacted when the
// log no longer reaches back to fromRevision.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (storage.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &watcher{s: s, prefix: prefix, ch: make(chan storage.Event, s.opts.WatchBufferSize), stopCh: make(chan struct{})}
	h := &s.hub
	if fromRevision <= 0 {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		w.after, w.live = h.lastRev, true
		h.watchers[w] = struct{}{}
		h.mu.Unlock()
	} else {
		// Refuse at once what is already compacted; the replay checks again.
		if _, _, _, err := s.readEvents(ctx, prefix, fromRevision, 0); err != nil {
			return nil, fmt.Errorf("watch %q from %d: %w", prefix, fromRevision, err)
		}
		// Counted under the hub's lock, so that Close, which marks the hub
		// closed before waiting, never races with a new replay.
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		s.replays.Add(1)
		h.mu.Unlock()
		go s.replay(w, fromRevision)
	}
	w.stopAfter = context.AfterFunc(ctx, w.end)
	return w, nil
}

// replay sends the logged events after from, then registers w with the
// hub once it has caught up with the last published transaction.
func (s *Store) replay(w *watcher, from int64) {
	defer s.replays.Done()
	cursor := from
	for {
		evs, last, end, err := s.readEvents(context.Background(), w.prefix, cursor, replayPage)
		if err != nil {
			w.finish(fmt.Errorf("watch %q from %d: %w", w.prefix, cursor, err))
			return
		}
		for _, ev := range evs {
			select {
			case w.ch <- ev:
			case <-w.stopCh:
				w.finish(nil)
				return
			case <-s.closing:
				w.finish(ErrClosed)
				return
			}
		}
		cursor = max(cursor, last)
		if !end {
			continue
		}
		h := &s.hub
		h.mu.Lock()
		select {
		case <-w.stopCh:
			w.endLocked(nil)
			h.mu.Unlock()
			return
		default:
		}
		if h.closed {
			w.endLocked(h.closeErr)
			h.mu.Unlock()
			return
		}
		if h.lastRev <= cursor {
			// Events after cursor are all still to be published.
			w.after, w.live = cursor, true
			h.watchers[w] = struct{}{}
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// readEvents returns up to limit logged events after revision after (all
// of them, when limit is 0 it reads none and only checks compaction),
// filtered by prefix; last is the revision of the last entry read and end
// reports whether the log has nothing after it.
func (s *Store) readEvents(ctx context.Context, prefix string, after int64, limit int) (evs []storage.Event, last int64, end bool, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		compacted, err := metaRevision(tx, keyCompacted)
		if err != nil {
			return err
		}
		if after < compacted {
			return fmt.Errorf("history before revision %d is compacted: %w", compacted, storage.ErrCompacted)
		}
		if limit == 0 {
			return nil
		}
		values := tx.Bucket(bucketValues)
		c := tx.Bucket(bucketEvents).Cursor()
		k, v := c.Seek(encodeRevision(after + 1))
		for n := 0; k != nil && n < limit; k, v = c.Next() {
			n++
			rev, rec, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			last = rev
			if strings.HasPrefix(rec.key, prefix) {
				if err := rec.load(values, rev); err != nil {
					return fmt.Errorf("event %d: %w", rev, err)
				}
				evs = append(evs, rec.event(rev))
			}
		}
		end = k == nil
		return nil
	})
	return evs, last, end, err
}
