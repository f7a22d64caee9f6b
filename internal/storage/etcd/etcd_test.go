package etcd

import (
	"testing"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

// newTestStore connects a store to endpoints and closes it at the end of
// the test.
func newTestStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New(%v) error = %v", cfg.Endpoints, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return s
}

// TestConformance runs the suite with one single-member cluster per
// subtest: the suite checks that revisions move by exactly one per
// mutation and compacts history, which other writers on a shared cluster
// would disturb.
func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Interface {
		c := etcdtest.Start(t, etcdtest.Options{})
		return newTestStore(t, Config{Endpoints: c.Endpoints()})
	})
}
