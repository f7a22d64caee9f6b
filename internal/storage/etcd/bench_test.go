package etcd

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

func BenchmarkStore(b *testing.B) {
	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("members%d", members), func(b *testing.B) {
			// One cluster for all sub-benchmarks; each store gets its own prefix.
			c := etcdtest.Start(b, etcdtest.Options{Members: members})
			var n atomic.Int64
			storagetest.Benchmark(b, func(b *testing.B) storage.Interface {
				s, err := New(b.Context(), Config{Endpoints: c.Endpoints(), Prefix: fmt.Sprintf("/bench%d", n.Add(1))})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
