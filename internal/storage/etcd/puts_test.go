package etcd

import (
	"testing"

	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// TestPutIfRevisions checks that the keys are written together, only when
// every revision matches, and that a refused transaction writes none.
func TestPutIfRevisions(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t, etcdtest.Options{})
	s := newTestStore(t, Config{Endpoints: c.Endpoints(), Prefix: "/puts"})
	ctx := t.Context()

	ok, err := s.PutIfRevisions(ctx, map[string]int64{"/a": 0, "/b": 0}, map[string][]byte{"/a": []byte("1"), "/b": []byte("1")})
	if err != nil || !ok {
		t.Fatalf("PutIfRevisions(absent keys) = %v, %v; want true, nil", ok, err)
	}
	a, err := s.Get(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	// Again on absent keys: refused, and /b keeps its value.
	ok, err = s.PutIfRevisions(ctx, map[string]int64{"/a": 0}, map[string][]byte{"/b": []byte("2")})
	if err != nil || ok {
		t.Fatalf("PutIfRevisions(stale revision) = %v, %v; want false, nil", ok, err)
	}
	if kv, err := s.Get(ctx, "/b"); err != nil || string(kv.Value) != "1" {
		t.Errorf("after a refused PutIfRevisions /b = %q, %v; want %q", kv.Value, err, "1")
	}
	// With /a's revision: written.
	ok, err = s.PutIfRevisions(ctx, map[string]int64{"/a": a.Revision, "/c": 0}, map[string][]byte{"/b": []byte("3")})
	if err != nil || !ok {
		t.Fatalf("PutIfRevisions(current revisions) = %v, %v; want true, nil", ok, err)
	}
	if kv, err := s.Get(ctx, "/b"); err != nil || string(kv.Value) != "3" {
		t.Errorf("/b = %q, %v; want %q", kv.Value, err, "3")
	}
	if _, err := s.Get(ctx, "/c"); err == nil {
		t.Error("/c exists, want only the keys put written")
	}
}
