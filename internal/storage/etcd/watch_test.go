package etcd

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// readN reads n events from w, failing after a deadline.
func readN(t *testing.T, w storage.Watcher, n int) []storage.Event {
	t.Helper()
	var evs []storage.Event
	for len(evs) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d of %d events: %v", len(evs), n, w.Err())
			}
			evs = append(evs, ev)
		case <-time.After(30 * time.Second):
			t.Fatalf("watch got %d of %d events", len(evs), n)
		}
	}
	return evs
}

// TestSlowWatcherCatchesUpAlone checks that a watcher too slow for the
// shared stream moves to its own etcd stream and still gets every event in
// order, while the others stay on the shared one.
func TestSlowWatcherCatchesUpAlone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := etcdtest.Start(t, etcdtest.Options{})
	s := newTestStore(t, Config{Endpoints: c.Endpoints()})
	slow, err := s.Watch(ctx, "/w/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(ctx, "/w/", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	const n = 3 * watchBuffer
	done := make(chan []storage.Event, 1)
	go func() { done <- readN(t, fast, n) }()
	var revs []int64
	for i := range n {
		rev, err := s.Create(ctx, fmt.Sprintf("/w/%04d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	for name, evs := range map[string][]storage.Event{"fast": <-done, "slow": readN(t, slow, n)} {
		for i, ev := range evs {
			if ev.KV.Revision != revs[i] || ev.KV.Key != fmt.Sprintf("/w/%04d", i) {
				t.Fatalf("%s watcher event %d = %s at %d, want /w/%04d at %d", name, i, ev.KV.Key, ev.KV.Revision, i, revs[i])
			}
		}
	}
	s.hub.mu.Lock()
	live := len(s.hub.watchers)
	s.hub.mu.Unlock()
	if live != 1 {
		t.Errorf("%d watchers on the shared stream, want 1 (the fast one)", live)
	}
}

// TestThousandWatchersShareOneStream checks delivery to 1,000 watchers.
func TestThousandWatchersShareOneStream(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := etcdtest.Start(t, etcdtest.Options{})
	s := newTestStore(t, Config{Endpoints: c.Endpoints()})
	const watchers, writes = 1000, 20
	ws := make([]storage.Watcher, watchers)
	for i := range ws {
		w, err := s.Watch(ctx, "/m/", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ws[i] = w
	}
	var revs []int64
	for i := range writes {
		rev, err := s.Create(ctx, fmt.Sprintf("/m/%d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	for i, w := range ws {
		for j, ev := range readN(t, w, writes) {
			if ev.KV.Revision != revs[j] {
				t.Fatalf("watcher %d event %d at %d, want %d", i, j, ev.KV.Revision, revs[j])
			}
		}
	}
	s.hub.mu.Lock()
	live := len(s.hub.watchers)
	s.hub.mu.Unlock()
	if live != watchers {
		t.Errorf("%d watchers on the shared stream, want %d", live, watchers)
	}
}
