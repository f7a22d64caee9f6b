package storagetest

import (
	"context"
	"sync"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
)

// LagWatches wraps a real store so that its watches are read Lag apart per
// event, as by a server too busy to keep up: a store that ends watchers
// which fall behind (bbolt, past its WatchBufferSize) then ends these.
// Tests of what follows a lost watch use it, since a watcher read at full
// speed may never fall behind.
type LagWatches struct {
	storage.Interface
	Lag time.Duration
}

// Watch starts the inner store's watch and relays its events Lag apart.
func (s *LagWatches) Watch(ctx context.Context, prefix string, from int64) (storage.Watcher, error) {
	w, err := s.Interface.Watch(ctx, prefix, from)
	if err != nil {
		return nil, err
	}
	l := &lagWatcher{Watcher: w, ch: make(chan storage.Event), stop: make(chan struct{})}
	go l.relay(s.Lag)
	return l, nil
}

// lagWatcher relays a store watch's events lag apart. Err is the inner
// watch's, valid once Events is closed.
type lagWatcher struct {
	storage.Watcher
	ch       chan storage.Event
	stop     chan struct{}
	stopOnce sync.Once
}

func (l *lagWatcher) relay(lag time.Duration) {
	defer close(l.ch)
	for ev := range l.Watcher.Events() {
		select {
		case <-time.After(lag):
		case <-l.stop:
			return
		}
		select {
		case l.ch <- ev:
		case <-l.stop:
			return
		}
	}
}

func (l *lagWatcher) Events() <-chan storage.Event { return l.ch }

func (l *lagWatcher) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.Watcher.Stop()
}
