package cli

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// TestAfterInitialListReleasesDuringTheList checks that the pages a long
// initial list reads are given back while it runs, not only at its end,
// so that they never pile up into the process's peak RSS, and that the
// periodic release stops once the controllers report the list done.
func TestAfterInitialListReleasesDuringTheList(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const n, size = 600, 10 << 10 // 6 MB of values
	for i := range n {
		if _, err := s.Create(ctx, fmt.Sprintf("/v/%04d", i), bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() {
		t.Helper()
		opts := storage.ListOptions{Limit: 100}
		listed := 0
		for {
			res, err := s.List(ctx, "/v/", opts)
			if err != nil {
				t.Fatal(err)
			}
			listed += len(res.Items)
			if res.Continue == "" {
				break
			}
			opts.Continue = res.Continue
		}
		if listed != n {
			t.Fatalf("listed %d values, want %d", listed, n)
		}
	}
	// The writes went through write(2), not the map; the reads fault the
	// pages in.
	readAll()
	full := mappedRSSKBOf("/proc/self", path)
	if full < n*size/1024*3/4 {
		t.Fatalf("after a full read %.0f kB of the store are resident; want most of its %d kB", full, n*size/1024)
	}

	synced := afterInitialList(ctx, s, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(20 * releaseInterval)
	for mappedRSSKBOf("/proc/self", path) > full/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%.0f of %.0f kB still resident %v after the list began; want them given back before it ends",
				mappedRSSKBOf("/proc/self", path), full, 20*releaseInterval)
		}
		time.Sleep(releaseInterval / 5)
	}

	synced()
	readAll()
	time.Sleep(4 * releaseInterval)
	if kb := mappedRSSKBOf("/proc/self", path); kb < full*3/4 {
		t.Errorf("after the list ended, %.0f of %.0f kB read again are resident; want the periodic release stopped", kb, full)
	}
}
