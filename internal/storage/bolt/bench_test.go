package bolt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

func BenchmarkStore(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Interface {
		s, err := Open(filepath.Join(b.TempDir(), "kubepki.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if n := s.commits.Load(); n > 0 && (strings.Contains(b.Name(), "/Create/") || strings.Contains(b.Name(), "/Update/")) {
				b.ReportMetric(float64(s.writes.Load())/float64(n), "writes/commit")
			}
			s.Close()
		})
		return s
	})
}

// BenchmarkFsync is the cost of the one fsync every commit pays: 2 KiB
// written and synced to a file in the same file system as the stores.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 2048)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
