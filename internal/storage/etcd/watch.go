package etcd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubepki/kubepki/internal/storage"
)

const (
	// watchBuffer is the per-watcher event buffer.
	watchBuffer = 256
	// ringSize is how many recent events the shared watch keeps at least
	// (at most twice as many), so that a watcher from a recent revision is
	// served from memory.
	ringSize = 2048
	// replayBatch is how many ring events a joining watcher copies per
	// hold of the hub's lock.
	replayBatch = 256
)

// Watches share one etcd watch per store (the hub): a thousand watchers
// cost one etcd stream, not a thousand, as kube-apiserver's watch cache
// does. A watcher is served in one of three phases, and whoever serves it
// is the only sender on its channel:
//
//  1. replay: its goroutine copies the hub's recent events after the
//     watcher's revision, then registers it with the hub;
//  2. live: the hub sends it each event, never blocking;
//  3. own: when it asked for a revision older than the hub's memory, or
//     fell behind the hub, its goroutine reads its own etcd watch from
//     its last revision.

// watcher adapts the store's watches to [storage.Watcher].
type watcher struct {
	s      *Store
	prefix string
	ch     chan storage.Event
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed with ch

	mu    sync.Mutex
	err   error
	ended bool

	// Guarded by hub.mu.
	after int64 // last revision sent
	live  bool
}

var _ storage.Watcher = (*watcher)(nil)

func (w *watcher) Events() <-chan storage.Event { return w.ch }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch with a nil error and waits until its channel is closed.
func (w *watcher) Stop() {
	w.cancel()
	<-w.done
}

// end closes the channel once with err. Only the watcher's current sender
// calls it.
func (w *watcher) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.ended, w.err = true, err
	close(w.ch)
	close(w.done)
}

// hub is the store's shared etcd watch and its recent history.
type hub struct {
	s *Store

	mu       sync.Mutex
	running  bool
	gen      int // bumped on every (re)start, so a stale stream stops publishing
	cancel   context.CancelFunc
	covered  int64 // the hub has every event after this revision
	lastRev  int64 // revision of the last event received
	ring     []storage.Event
	watchers map[*watcher]struct{}
	failure  error // why the last stream ended
}

// startLocked starts the shared watch after revision from.
func (h *hub) startLocked(from int64) {
	h.gen++
	ctx, cancel := context.WithCancel(context.Background())
	h.running, h.cancel = true, cancel
	h.covered, h.lastRev, h.ring = from, from, h.ring[:0]
	if h.watchers == nil {
		h.watchers = make(map[*watcher]struct{})
	}
	wch := h.s.client.Watch(clientv3.WithRequireLeader(ctx), h.s.prefix,
		clientv3.WithPrefix(), clientv3.WithRev(from+1), clientv3.WithPrevKV())
	h.s.watches.Add(1)
	go h.run(ctx, h.gen, wch)
}

// run publishes the shared stream until it fails or the store closes.
func (h *hub) run(ctx context.Context, gen int, wch clientv3.WatchChan) {
	defer h.s.watches.Done()
	var err error
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-h.s.closing:
			err = errStoreClosed
		}
		if err == nil && !ok {
			err = fmt.Errorf("etcd closed the shared watch stream: %w", storage.ErrUnavailable)
		}
		if err == nil && resp.CompactRevision != 0 {
			err = fmt.Errorf("shared watch fell behind etcd's compaction at %d: %w", resp.CompactRevision, storage.ErrCompacted)
		}
		if err == nil {
			if rerr := resp.Err(); rerr != nil {
				err = fmt.Errorf("shared watch: %w", mapError(ctx, rerr))
			}
		}
		if err != nil {
			h.fail(gen, err)
			for range wch {
			}
			return
		}
		h.publish(gen, resp.Events)
	}
}

// publish records events and hands them to live watchers.
func (h *hub) publish(gen int, events []*clientv3.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen {
		return
	}
	for _, e := range events {
		ev := h.s.event(e)
		if len(h.ring) == 2*ringSize {
			// Drop the older half at once: amortised constant time per event.
			h.covered = h.ring[ringSize-1].KV.Revision
			h.ring = append(h.ring[:0], h.ring[ringSize:]...)
		}
		h.ring = append(h.ring, ev)
		h.lastRev = ev.KV.Revision
		for w := range h.watchers {
			if ev.KV.Revision <= w.after || !strings.HasPrefix(ev.KV.Key, w.prefix) {
				continue
			}
			select {
			case w.ch <- ev:
				w.after = ev.KV.Revision
			default:
				// Too slow for the hub: read its own stream from where it is.
				delete(h.watchers, w)
				w.live = false
				h.s.startOwn(w, w.after)
			}
		}
	}
}

// fail ends the stream of generation gen: live watchers end with err and
// watch again from their last revision, which restarts the hub.
func (h *hub) fail(gen int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen {
		return
	}
	h.cancel()
	h.running, h.failure = false, err
	for w := range h.watchers {
		delete(h.watchers, w)
		w.live = false
		w.end(err)
	}
}

// unregister ends a live watcher stopped by its context.
func (h *hub) unregister(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.live {
		delete(h.watchers, w)
		w.live = false
		w.end(nil)
	}
}

var errStoreClosed = fmt.Errorf("etcd store closed: %w", storage.ErrUnavailable)

// Watch streams the mutations under prefix after fromRevision, with the
// previous values. fromRevision 0 means after the current revision, read
// linearizably first so that no write acknowledged before Watch returned
// is missed. A compacted fromRevision ends the watch with
// storage.ErrCompacted; losing the leader ends it with an error wrapping
// storage.ErrUnavailable, and the caller watches again from its last
// revision.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (storage.Watcher, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	if fromRevision <= 0 {
		rev, err := s.CurrentRevision(ctx)
		if err != nil {
			return nil, fmt.Errorf("watch %q: %w", prefix, err)
		}
		fromRevision = rev
	}
	h := &s.hub
	h.mu.Lock()
	running := h.running
	h.mu.Unlock()
	var cur int64
	if !running {
		// The shared watch starts at the current revision, never at an old
		// one that etcd may have compacted.
		var err error
		if cur, err = s.CurrentRevision(ctx); err != nil {
			return nil, fmt.Errorf("watch %q: %w", prefix, err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{s: s, prefix: prefix, ch: make(chan storage.Event, watchBuffer), ctx: wctx, cancel: cancel, done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-s.closing:
		cancel()
		return nil, errStoreClosed
	default:
	}
	if !h.running {
		if cur == 0 {
			// Another watch stopped the hub meanwhile; serve this one alone.
			s.startOwn(w, fromRevision)
			context.AfterFunc(wctx, func() { h.unregister(w) })
			return w, nil
		}
		h.startLocked(cur)
	}
	if fromRevision < h.covered {
		s.startOwn(w, fromRevision)
	} else {
		s.watches.Add(1)
		go s.replay(w, fromRevision)
	}
	context.AfterFunc(wctx, func() { h.unregister(w) })
	return w, nil
}

// replay copies the hub's events after from to w, then makes w live.
func (s *Store) replay(w *watcher, from int64) {
	defer s.watches.Done()
	h := &s.hub
	cursor := from
	for {
		h.mu.Lock()
		if !h.running {
			err := h.failure
			h.mu.Unlock()
			w.end(err)
			return
		}
		if cursor < h.covered {
			s.startOwn(w, cursor)
			h.mu.Unlock()
			return
		}
		i := sort.Search(len(h.ring), func(i int) bool { return h.ring[i].KV.Revision > cursor })
		if i == len(h.ring) {
			if w.ctx.Err() != nil {
				h.mu.Unlock()
				w.end(nil)
				return
			}
			w.after, w.live = cursor, true
			h.watchers[w] = struct{}{}
			h.mu.Unlock()
			return
		}
		var batch []storage.Event
		for ; i < len(h.ring) && len(batch) < replayBatch; i++ {
			ev := h.ring[i]
			cursor = ev.KV.Revision
			if strings.HasPrefix(ev.KV.Key, w.prefix) {
				batch = append(batch, ev)
			}
		}
		h.mu.Unlock()
		for _, ev := range batch {
			select {
			case w.ch <- ev:
			case <-w.ctx.Done():
				w.end(nil)
				return
			case <-s.closing:
				w.end(errStoreClosed)
				return
			}
		}
	}
}

// startOwn serves w from its own etcd watch after revision from.
//
// It may be called with the hub's lock held, so it only starts a goroutine.
func (s *Store) startOwn(w *watcher, from int64) {
	s.watches.Add(1)
	go func() {
		defer s.watches.Done()
		wch := s.client.Watch(clientv3.WithRequireLeader(w.ctx), s.prefix+w.prefix,
			clientv3.WithPrefix(), clientv3.WithRev(from+1), clientv3.WithPrevKV())
		err := s.pump(w, wch, from)
		w.cancel()
		// Drain so that clientv3 can release the stream.
		for range wch {
		}
		w.end(err)
	}()
}

// pump forwards an etcd watch until it ends and returns why: nil for Stop
// or the caller's context, an error otherwise.
func (s *Store) pump(w *watcher, wch clientv3.WatchChan, from int64) error {
	last := from
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-w.ctx.Done():
			return nil
		case <-s.closing:
			return fmt.Errorf("watch %q: %w", w.prefix, errStoreClosed)
		}
		if !ok {
			if w.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %q after revision %d: etcd closed the stream: %w", w.prefix, last, storage.ErrUnavailable)
		}
		if resp.CompactRevision != 0 {
			return fmt.Errorf("watch %q from revision %d, etcd compacted to %d: %w", w.prefix, from, resp.CompactRevision, storage.ErrCompacted)
		}
		if err := resp.Err(); err != nil {
			if w.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %q after revision %d: %w", w.prefix, last, mapError(w.ctx, err))
		}
		for _, e := range resp.Events {
			ev := s.event(e)
			select {
			case w.ch <- ev:
				last = ev.KV.Revision
			case <-w.ctx.Done():
				return nil
			case <-s.closing:
				return fmt.Errorf("watch %q: %w", w.prefix, errStoreClosed)
			}
		}
	}
}

// event converts an etcd watch event.
func (s *Store) event(e *clientv3.Event) storage.Event {
	var ev storage.Event
	if e.PrevKv != nil {
		ev.PrevValue = e.PrevKv.Value
	}
	switch {
	case e.Type == clientv3.EventTypeDelete:
		ev.Type = storage.EventDeleted
		ev.KV = storage.KV{Key: strings.TrimPrefix(string(e.Kv.Key), s.prefix), Revision: e.Kv.ModRevision}
		if e.PrevKv != nil {
			ev.KV.Value = e.PrevKv.Value
			ev.KV.CreateRevision = e.PrevKv.CreateRevision
		}
	case e.IsCreate():
		ev.Type = storage.EventCreated
		ev.KV = s.kv(e.Kv)
	default:
		ev.Type = storage.EventUpdated
		ev.KV = s.kv(e.Kv)
	}
	return ev
}
