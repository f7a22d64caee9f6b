package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubepki/kubepki/internal/storage"
)

// watchBuffer is the per-watch event buffer between etcd's stream and the
// consumer; etcd's own stream applies back-pressure beyond it.
const watchBuffer = 256

// watcher adapts a clientv3 watch to [storage.Watcher].
type watcher struct {
	ch     chan storage.Event
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}

	mu  sync.Mutex
	err error
}

var _ storage.Watcher = (*watcher)(nil)

func (w *watcher) Events() <-chan storage.Event { return w.ch }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch with a nil error and waits for its goroutine.
func (w *watcher) Stop() {
	w.once.Do(w.cancel)
	<-w.done
}

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
	wctx, cancel := context.WithCancel(ctx)
	// Without a leader etcd would keep the stream open but silent.
	wch := s.client.Watch(clientv3.WithRequireLeader(wctx), s.prefix+prefix,
		clientv3.WithPrefix(), clientv3.WithRev(fromRevision+1), clientv3.WithPrevKV())
	w := &watcher{ch: make(chan storage.Event, watchBuffer), cancel: cancel, done: make(chan struct{})}
	s.watches.Add(1)
	go func() {
		defer s.watches.Done()
		defer close(w.done)
		err := s.pump(wctx, w, wch, prefix, fromRevision)
		cancel()
		// Drain so that clientv3 can release the stream.
		for range wch {
		}
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		close(w.ch)
	}()
	return w, nil
}

// pump forwards etcd's watch responses until the watch ends and returns
// why: nil for Stop or the caller's context, an error otherwise.
func (s *Store) pump(ctx context.Context, w *watcher, wch clientv3.WatchChan, prefix string, from int64) error {
	last := from
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return fmt.Errorf("watch %q: etcd store closed: %w", prefix, storage.ErrUnavailable)
		}
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %q after revision %d: etcd closed the stream: %w", prefix, last, storage.ErrUnavailable)
		}
		if resp.CompactRevision != 0 {
			return fmt.Errorf("watch %q from revision %d, etcd compacted to %d: %w", prefix, from, resp.CompactRevision, storage.ErrCompacted)
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %q after revision %d: %w", prefix, last, mapError(ctx, err))
		}
		for _, e := range resp.Events {
			ev := s.event(e)
			select {
			case w.ch <- ev:
				last = ev.KV.Revision
			case <-ctx.Done():
				return nil
			case <-s.closing:
				return fmt.Errorf("watch %q: etcd store closed: %w", prefix, storage.ErrUnavailable)
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
