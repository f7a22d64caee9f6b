package cli

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},        // 1 MiB live: at most 400
		{8 << 20, 400},        // 32 MiB of room is exactly 400%
		{10 << 20, 300},       // 320% in steps of 25
		{16 << 20, 200},       //
		{20 << 20, 150},       // 160% in steps of 25
		{32 << 20, 100},       // the headroom is reached: Go's default
		{200 << 20, 100},      // a large heap never goes below it
		{1 << 40, 100},        //
		{(32 << 20) / 3, 300}, // 300% exactly
		{(32<<20)/3 + 1, 275}, // just over: the next step down
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// gogc reads the collector's current GOGC.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestTuneServeGC runs alone (not parallel): GOGC is process-wide.
func TestTuneServeGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	before := gogc()
	t.Cleanup(func() { debug.SetGCPercent(int(before)) })

	ctx, cancel := context.WithCancel(t.Context())
	tuneServeGC(ctx)
	// The test binary's live heap is a few MiB: the tuner settles at the
	// percent gcPercentFor gives it, re-checked after each collection.
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		metrics.Read(live)
		want := uint64(gcPercentFor(live[0].Value.Uint64()))
		if got := gogc(); got == want && want > 100 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d with %d bytes live, want %d", got, live[0].Value.Uint64(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Ended: back to Go's default after the next collection.
	cancel()
	for gogc() != serveGCMinPercent {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d after the tuner ended, want %d", gogc(), serveGCMinPercent)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}

	// GOGC set by the user decides alone.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	tuneServeGC(ctx2)
	runtime.GC()
	runtime.GC()
	if got := gogc(); got != 150 {
		t.Errorf("GOGC = %d with GOGC=150 in the environment, want 150 untouched", got)
	}
}

// TestTuneServeProcs runs alone (not parallel): GOMAXPROCS is process-wide.
func TestTuneServeProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })

	t.Setenv("GOMAXPROCS", "")
	restore := tuneServeProcs()
	if got := runtime.GOMAXPROCS(0); got != before+1 {
		t.Errorf("GOMAXPROCS = %d after tuning, want %d", got, before+1)
	}
	restore()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS = %d after restoring, want %d", got, before)
	}

	// The user's setting decides alone.
	t.Setenv("GOMAXPROCS", "1")
	restore = tuneServeProcs()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS = %d with GOMAXPROCS set in the environment, want %d untouched", got, before)
	}
	restore()
}
