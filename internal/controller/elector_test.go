package controller_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

func etcdClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newElector(t *testing.T, c *clientv3.Client, id string, ttl time.Duration) *controller.EtcdElector {
	t.Helper()
	e, err := controller.NewEtcdElector(controller.EtcdElectorConfig{Client: c, Identity: id, LeaseTTL: ttl, Prefix: "/test/" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// campaign runs Campaign in the background and reports the leader context
// and the time leadership began.
type term struct {
	ctx   context.Context
	began time.Time
}

func campaign(ctx context.Context, t *testing.T, e *controller.EtcdElector) <-chan term {
	ch := make(chan term, 1)
	go func() {
		lctx, err := e.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("Campaign: %v", err)
			}
			close(ch)
			return
		}
		ch <- term{lctx, time.Now()}
	}()
	return ch
}

func TestEtcdElectorHandover(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, etcdtest.Options{})
	c := etcdClient(t, cluster.Endpoints()...)
	a, b := newElector(t, c, "a", 2*time.Second), newElector(t, c, "b", 2*time.Second)

	actx, acancel := context.WithCancel(t.Context())
	defer acancel()
	var aterm term
	select {
	case aterm = <-campaign(actx, t, a):
	case <-time.After(waitTimeout):
		t.Fatal("a did not become leader")
	}
	bch := campaign(t.Context(), t, b)
	// b must not lead while a does; a renews its lease meanwhile. Poll
	// for a few lease periods.
	for range 30 {
		select {
		case <-bch:
			t.Fatal("b became leader while a leads")
		case <-aterm.ctx.Done():
			t.Fatalf("a lost leadership while connected: %v", context.Cause(aterm.ctx))
		case <-time.After(150 * time.Millisecond):
		}
	}
	acancel() // a resigns
	select {
	case bterm := <-bch:
		if bterm.ctx == nil {
			t.Fatal("b's campaign failed")
		}
		if aterm.ctx.Err() == nil {
			t.Error("b leads while a's leader context is still live")
		}
	case <-time.After(waitTimeout):
		t.Fatal("b did not take over after a resigned")
	}
}

// TestEtcdElectorStopsBeforeOtherStarts cuts the leader off from the etcd
// cluster: its leader context must end before the other candidate, still
// connected to a quorum, begins to lead.
func TestEtcdElectorStopsBeforeOtherStarts(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, etcdtest.Options{Members: 3})
	ms := cluster.Members()
	ca := etcdClient(t, ms[0].ClientURL)
	cb := etcdClient(t, ms[1].ClientURL, ms[2].ClientURL)
	const ttl = 3 * time.Second
	a, b := newElector(t, ca, "a", ttl), newElector(t, cb, "b", ttl)

	var aterm term
	select {
	case aterm = <-campaign(t.Context(), t, a):
	case <-time.After(waitTimeout):
		t.Fatal("a did not become leader")
	}
	bch := campaign(t.Context(), t, b)
	ms[0].Stop() // a can no longer renew its lease

	var aEnded time.Time
	select {
	case <-aterm.ctx.Done():
		aEnded = time.Now()
	case <-bch:
		t.Fatal("b became leader before a stopped leading")
	case <-time.After(waitTimeout):
		t.Fatal("a kept leading without its lease")
	}
	select {
	case bterm := <-bch:
		if bterm.ctx == nil {
			t.Fatal("b's campaign failed")
		}
		if !bterm.began.After(aEnded) {
			t.Errorf("b began leading at %v, before a stopped at %v", bterm.began, aEnded)
		}
		t.Logf("a stopped %v before b started", bterm.began.Sub(aEnded))
	case <-time.After(waitTimeout):
		t.Fatal("b did not take over after a's lease expired")
	}
}
