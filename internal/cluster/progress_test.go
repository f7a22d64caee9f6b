package cluster

import (
	"sync/atomic"
	"testing"
)

func TestInitReportsProgress(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.CertDir, opts.KubeconfigDir = t.TempDir(), t.TempDir()
	opts.AdvertiseAddress = "10.0.0.10"
	var calls, last, total atomic.Int64
	opts.Progress = func(done, tot int) {
		calls.Add(1)
		if int64(done) <= last.Load() {
			t.Errorf("progress went from %d to %d", last.Load(), done)
		}
		last.Store(int64(done))
		total.Store(int64(tot))
	}
	if _, err := Init(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if calls.Load() == 0 || last.Load() != total.Load() || total.Load() < 15 {
		t.Errorf("progress: %d calls, last %d of %d; want one call per key and certificate ending at the total", calls.Load(), last.Load(), total.Load())
	}
}
