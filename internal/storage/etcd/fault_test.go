package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMemberStopRestartLosesNothing writes steadily to a three-member
// cluster while its leader is stopped and brought back. Every write that
// was acknowledged must be in the store afterwards, callers may only see
// retryable errors while the quorum holds, and a watch that resumes from
// its last revision sees every write exactly once.
func TestMemberStopRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("three-member fault test skipped in -short mode")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := etcdtest.Start(t, etcdtest.Options{Members: 3})
	s := newTestStore(t, Config{Endpoints: c.Endpoints(), RequestTimeout: 5 * time.Second})
	start, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A watcher that resumes after errors from the last revision it saw.
	var (
		wmu      sync.Mutex
		watched  = make(map[string]int)
		lastSeen = start
	)
	watchDone := make(chan struct{})
	wctx, stopWatch := context.WithCancel(ctx)
	go func() {
		defer close(watchDone)
		for wctx.Err() == nil {
			w, err := s.Watch(wctx, "/f/", lastSeen)
			if err != nil {
				if !errors.Is(err, storage.ErrUnavailable) && wctx.Err() == nil {
					t.Errorf("Watch() error = %v, want a retryable one", err)
					return
				}
				continue
			}
			for ev := range w.Events() {
				wmu.Lock()
				if ev.KV.Revision <= lastSeen {
					t.Errorf("watch event at %d after %d", ev.KV.Revision, lastSeen)
				}
				lastSeen = ev.KV.Revision
				watched[ev.KV.Key]++
				wmu.Unlock()
			}
			if err := w.Err(); err != nil && !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("watch ended with %v, want a retryable error", err)
				return
			}
		}
	}()

	var (
		acked     sync.Map // key → value
		ackCount  atomic.Int64
		retryable atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("/f/%d/%05d", w, i)
				value := []byte(key)
				for attempt := 0; ; attempt++ {
					if attempt > 200 || ctx.Err() != nil {
						t.Errorf("Create(%s) did not succeed after %d attempts", key, attempt)
						return
					}
					_, err := s.Create(ctx, key, value)
					if errors.Is(err, storage.ErrExists) && attempt > 0 {
						// An earlier attempt timed out but had committed.
						kv, gerr := s.Get(ctx, key)
						if gerr != nil || !bytes.Equal(kv.Value, value) {
							t.Errorf("Create(%s) retry found %q, %v", key, kv.Value, gerr)
							return
						}
						err = nil
					}
					if err == nil {
						acked.Store(key, value)
						ackCount.Add(1)
						break
					}
					if !errors.Is(err, storage.ErrUnavailable) {
						t.Errorf("Create(%s) error = %v, want only retryable errors while the quorum holds", key, err)
						return
					}
					retryable.Add(1)
				}
			}
		})
	}
	progress := func(what string, more int64) {
		t.Helper()
		target := ackCount.Load() + more
		waitFor(t, what, 90*time.Second, func() bool { return ackCount.Load() >= target || t.Failed() })
	}
	progress("writes before the fault", 200)
	// Stopping the leader forces an election under load.
	victim := c.Leader()
	if victim == nil {
		t.Fatal("the cluster has no leader")
	}
	victim.Stop()
	progress("writes with one member stopped", 200)
	victim.Restart(t)
	progress("writes after the restart", 200)
	close(stop)
	wg.Wait()

	// Every acknowledged write is there, read linearizably.
	res, err := s.List(ctx, "/f/", storage.ListOptions{})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	stored := make(map[string][]byte)
	for _, kv := range res.Items {
		stored[kv.Key] = kv.Value
	}
	lost := 0
	acked.Range(func(k, v any) bool {
		if !bytes.Equal(stored[k.(string)], v.([]byte)) {
			lost++
			t.Errorf("acknowledged write %s missing after the fault", k)
		}
		return lost < 10
	})

	// The restarted member caught up: a store talking only to it sees all.
	only := newTestStore(t, Config{Endpoints: []string{victim.ClientURL}})
	ores, err := only.List(ctx, "/f/", storage.ListOptions{})
	if err != nil || len(ores.Items) != len(res.Items) {
		t.Errorf("List() through the restarted member = %d items, %v, want %d", len(ores.Items), err, len(res.Items))
	}

	// The watcher saw every stored key exactly once.
	waitFor(t, "watch catching up", 60*time.Second, func() bool {
		wmu.Lock()
		defer wmu.Unlock()
		return lastSeen >= res.Revision || t.Failed()
	})
	stopWatch()
	<-watchDone
	wmu.Lock()
	defer wmu.Unlock()
	for k := range stored {
		if watched[k] != 1 {
			t.Errorf("watch saw %s %d times, want once", k, watched[k])
		}
	}
	t.Logf("%d acknowledged writes, %d retryable errors, %d keys stored, watch at %d", ackCount.Load(), retryable.Load(), len(stored), lastSeen)
}

// TestQuorumLossIsUnavailable stops two of three members: requests fail
// with errors wrapping storage.ErrUnavailable, Health reports it, and the
// same store recovers without reconnecting once the quorum is back.
func TestQuorumLossIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("three-member fault test skipped in -short mode")
	}
	t.Parallel()
	ctx := t.Context()
	c := etcdtest.Start(t, etcdtest.Options{Members: 3})
	s := newTestStore(t, Config{Endpoints: c.Endpoints(), RequestTimeout: 2 * time.Second})
	rev, err := s.Create(ctx, "/q/a", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	c.Members()[1].Stop()
	c.Members()[2].Stop()
	if _, err := s.Create(ctx, "/q/b", []byte("v")); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Create() without quorum error = %v, want %v", err, storage.ErrUnavailable)
	}
	if _, err := s.Get(ctx, "/q/a"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Get() without quorum error = %v, want %v (no stale reads)", err, storage.ErrUnavailable)
	}
	if err := s.Health(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Health() without quorum = %v, want %v", err, storage.ErrUnavailable)
	}
	c.Members()[1].Restart(t)
	waitFor(t, "health after the quorum returned", 60*time.Second, func() bool { return s.Health(ctx) == nil })
	if kv, err := s.Get(ctx, "/q/a"); err != nil || kv.Revision != rev {
		t.Errorf("Get() after recovery = %+v, %v, want revision %d", kv, err, rev)
	}
	if _, err := s.Create(ctx, "/q/c", []byte("v")); err != nil {
		t.Errorf("Create() after recovery error = %v", err)
	}
}
