package cli

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The server's garbage collector setting. Go's default (GOGC=100) lets
// the heap grow to twice what is live before collecting. A server with a
// small store has a small live heap, so it collects very often and spends
// a large share of its CPU on it under load (15–20% in the cycle
// benchmark). serveGC gives the heap at least serveGCHeadroom of room
// above what is live, but never more than serveGCMaxPercent, and never
// less than Go's default: once the live heap exceeds serveGCHeadroom, the
// server collects exactly as with GOGC=100, so a large store costs no
// more memory than before.
const (
	serveGCHeadroom   = 32 << 20
	serveGCMaxPercent = 400
	serveGCMinPercent = 100
)

// gcPercentFor is the GOGC value for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return serveGCMaxPercent
	}
	p := int(min(uint64(serveGCMaxPercent), serveGCHeadroom*100/live))
	// In steps of 25, so that small moves of the live heap change nothing.
	return max(serveGCMinPercent, p/25*25)
}

// tuneServeGC adjusts the collector after every garbage collection until
// ctx ends, unless the user set GOGC or GOMEMLIMIT, which then decide
// alone. It returns at once.
func tuneServeGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	debug.SetGCPercent(gcPercentFor(0))
	var arm func()
	arm = func() {
		// A finalizer runs after the collection that found its object
		// unreachable: once per cycle, re-armed each time. The sentinel
		// holds a pointer so that it is never in a tiny-allocator block,
		// whose finalizers may not run.
		runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
			if ctx.Err() != nil {
				debug.SetGCPercent(serveGCMinPercent)
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && sample[1].Value.Kind() == metrics.KindUint64 {
				// Compared with the collector's own setting, not a
				// remembered one, so that another setter is corrected.
				if p := gcPercentFor(sample[0].Value.Uint64()); uint64(p) != sample[1].Value.Uint64() {
					debug.SetGCPercent(p)
				}
			}
			arm()
		})
	}
	arm()
}

// gcSentinel is the object whose finalizer marks each collection.
type gcSentinel struct{ _ *gcSentinel }
