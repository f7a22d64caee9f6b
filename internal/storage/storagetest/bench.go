package storagetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
)

// benchValue is the size of a typical stored CSR object.
var benchValue = []byte(strings.Repeat("x", 2048))

// Benchmark runs the same throughput benchmarks on any store: create,
// update and get from 1 and 64 goroutines, a 500-item list page, and
// watch delivery to 1 and 1,000 watchers. Each reports ops/s. newStore
// must return an empty store (or one with a fresh key prefix) that it
// closes at the end of the benchmark.
func Benchmark(b *testing.B, newStore func(b *testing.B) storage.Interface) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("Create/c%d", par), func(b *testing.B) {
			s := newStore(b)
			var n atomic.Int64
			runParallel(b, par, func(ctx context.Context, _ int) error {
				_, err := s.Create(ctx, fmt.Sprintf("/bench/%09d", n.Add(1)), benchValue)
				return err
			})
		})
		b.Run(fmt.Sprintf("Update/c%d", par), func(b *testing.B) {
			s := newStore(b)
			// Each goroutine updates its own key: no conflicts, only writes.
			revs := make([]int64, par)
			for g := range revs {
				rev, err := s.Create(b.Context(), fmt.Sprintf("/bench/u%03d", g), benchValue)
				if err != nil {
					b.Fatal(err)
				}
				revs[g] = rev
			}
			runParallel(b, par, func(ctx context.Context, g int) error {
				rev, err := s.Update(ctx, fmt.Sprintf("/bench/u%03d", g), revs[g], benchValue)
				revs[g] = rev
				return err
			})
		})
		b.Run(fmt.Sprintf("Get/c%d", par), func(b *testing.B) {
			s := newStore(b)
			const keys = 1000
			fill(b, s, keys)
			var n atomic.Int64
			runParallel(b, par, func(ctx context.Context, _ int) error {
				_, err := s.Get(ctx, fmt.Sprintf("/bench/%09d", n.Add(1)%keys))
				return err
			})
		})
	}
	b.Run("List/page500of5000", func(b *testing.B) {
		s := newStore(b)
		fill(b, s, 5000)
		var cont string
		runParallel(b, 1, func(ctx context.Context, _ int) error {
			res, err := s.List(ctx, "/bench/", storage.ListOptions{Limit: 500, Continue: cont})
			cont = res.Continue
			return err
		})
	})
	for _, watchers := range []int{1, 1000} {
		b.Run(fmt.Sprintf("Watch/w%d", watchers), func(b *testing.B) {
			benchWatch(b, newStore(b), watchers)
		})
	}
}

// fill creates keys /bench/000000000… with 16 writers.
func fill(b *testing.B, s storage.Interface, n int) {
	b.Helper()
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("/bench/%09d", i))
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := s.Create(b.Context(), keys[i], benchValue); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// runParallel runs b.N calls of fn from par goroutines, passing each its
// index, and reports ops/s.
func runParallel(b *testing.B, par int, fn func(ctx context.Context, g int) error) {
	b.Helper()
	ctx := b.Context()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range par {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := fn(ctx, g); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// benchWatch writes b.N keys from 16 writers and waits until every one of
// watchers watchers has received every event; it reports delivered
// events/s (b.N × watchers per second).
func benchWatch(b *testing.B, s storage.Interface, watchers int) {
	ctx := b.Context()
	start, err := s.CurrentRevision(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	ws := make([]storage.Watcher, watchers)
	for i := range ws {
		w, err := s.Watch(ctx, "/bench/", 0)
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = w
		defer w.Stop()
	}
	b.ResetTimer()
	t0 := time.Now()
	for _, w := range ws {
		wg.Go(func() {
			for range b.N {
				select {
				case _, ok := <-w.Events():
					if !ok {
						b.Errorf("watcher ended: %v", w.Err())
						return
					}
				case <-time.After(time.Minute):
					b.Errorf("watcher stalled")
					return
				}
			}
		})
	}
	var n atomic.Int64
	var writers sync.WaitGroup
	for range 16 {
		writers.Go(func() {
			for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
				if _, err := s.Create(ctx, fmt.Sprintf("/bench/%d-%09d", start, i), benchValue); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(watchers)/time.Since(t0).Seconds(), "events/s")
}
