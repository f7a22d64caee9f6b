package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Defaults of EtcdElectorConfig.
const (
	// DefaultElectionPrefix is the etcd key prefix of the election.
	DefaultElectionPrefix = "/kubepki/leader/controllers"
	// DefaultLeaseTTL is the lease of a leader: another process can lead
	// at the earliest this long after the leader last renewed it.
	DefaultLeaseTTL = 15 * time.Second
)

// EtcdElectorConfig configures an etcd Elector.
type EtcdElectorConfig struct {
	// Client is the etcd client. Required.
	Client *clientv3.Client
	// Prefix is the election's key prefix; empty means DefaultElectionPrefix.
	Prefix string
	// Identity is written as the leader's value; required.
	Identity string
	// LeaseTTL is rounded up to whole seconds, at least 2; zero means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Logger receives leadership changes; nil discards them.
	Logger *slog.Logger
}

// EtcdElector elects one leader among processes sharing an etcd cluster,
// with concurrency.Session and concurrency.Election.
//
// A leader stops before another can start: the leader's context ends when
// the session ends, and also when the lease has not been confirmed renewed
// for LeaseTTL minus a third of it, measured on the leader's clock from
// the moment the renewal answer arrived; etcd lets another candidate win
// only once the lease has expired, LeaseTTL after the last renewal
// reached the server, which is later.
type EtcdElector struct {
	client   *clientv3.Client
	prefix   string
	identity string
	ttl      int64
	log      *slog.Logger
}

// NewEtcdElector checks cfg and returns an elector.
func NewEtcdElector(cfg EtcdElectorConfig) (*EtcdElector, error) {
	if cfg.Client == nil {
		return nil, errors.New("etcd elector: Client is required")
	}
	if cfg.Identity == "" {
		return nil, errors.New("etcd elector: Identity is required")
	}
	ttl := cfg.LeaseTTL
	if ttl == 0 {
		ttl = DefaultLeaseTTL
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 2 {
		secs = 2
	}
	e := &EtcdElector{client: cfg.Client, prefix: cfg.Prefix, identity: cfg.Identity, ttl: secs, log: cfg.Logger}
	if e.prefix == "" {
		e.prefix = DefaultElectionPrefix
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

// safeWindow is how long after a confirmed renewal the leader keeps
// acting: two thirds of the lease.
func (e *EtcdElector) safeWindow() time.Duration {
	return time.Duration(e.ttl) * time.Second * 2 / 3
}

// Campaign implements Elector. It blocks until this process leads or ctx
// ends. When the returned context ends, the process has resigned (or lost
// its lease) and must not act as leader any more.
func (e *EtcdElector) Campaign(ctx context.Context) (context.Context, error) {
	granted := time.Now() // before the request: the lease lasts at least ttl from here
	lease, err := e.client.Grant(ctx, e.ttl)
	if err != nil {
		return nil, fmt.Errorf("etcd elector: grant lease: %w", err)
	}
	session, err := concurrency.NewSession(e.client, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(int(e.ttl)), concurrency.WithContext(ctx))
	if err != nil {
		e.revoke(lease.ID)
		return nil, fmt.Errorf("etcd elector: session: %w", err)
	}
	watch := newLeaseWatch(granted)
	kaCtx, kaCancel := context.WithCancel(ctx)
	ka, err := e.client.KeepAlive(kaCtx, lease.ID)
	if err != nil {
		kaCancel()
		_ = session.Close()
		return nil, fmt.Errorf("etcd elector: keep lease alive: %w", err)
	}
	go func() {
		for range ka {
			watch.renewed(time.Now())
		}
		watch.lost()
	}()

	election := concurrency.NewElection(session, e.prefix)
	if err := election.Campaign(ctx, e.identity); err != nil {
		kaCancel()
		_ = session.Close()
		return nil, fmt.Errorf("etcd elector: campaign: %w", err)
	}
	// Campaign can return after the lease was lost; check the key is ours.
	resp, err := e.client.Get(ctx, election.Key())
	if err != nil || len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != lease.ID {
		kaCancel()
		_ = session.Close()
		if err == nil {
			err = errors.New("leader key is gone")
		}
		return nil, fmt.Errorf("etcd elector: campaign: %w", err)
	}

	leaderCtx, cancel := context.WithCancelCause(ctx)
	go func() {
		defer kaCancel()
		for {
			deadline, lost := watch.state()
			if lost {
				cancel(errors.New("lease keep-alive ended"))
				break
			}
			wait := time.Until(deadline.Add(e.safeWindow()))
			if wait <= 0 {
				cancel(errors.New("lease renewal not confirmed in time"))
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				cancel(ctx.Err())
			case <-session.Done():
				cancel(errors.New("session ended"))
			case <-watch.changed():
			case <-t.C:
			}
			t.Stop()
			if leaderCtx.Err() != nil {
				break
			}
		}
		e.log.Info("leadership ended", "identity", e.identity, "cause", context.Cause(leaderCtx))
		rctx, rcancel := context.WithTimeout(context.Background(), time.Duration(e.ttl)*time.Second)
		_ = election.Resign(rctx)
		rcancel()
		_ = session.Close()
	}()
	e.log.Info("leadership acquired", "identity", e.identity, "key", election.Key())
	return leaderCtx, nil
}

func (e *EtcdElector) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(e.ttl)*time.Second)
	defer cancel()
	_, _ = e.client.Revoke(ctx, id)
}

// leaseWatch tracks the last confirmed renewal of a lease.
type leaseWatch struct {
	mu     sync.Mutex
	last   time.Time
	isLost bool
	ch     chan struct{}
}

func newLeaseWatch(start time.Time) *leaseWatch {
	return &leaseWatch{last: start, ch: make(chan struct{}, 1)}
}

func (w *leaseWatch) renewed(at time.Time) {
	w.mu.Lock()
	w.last = at
	w.mu.Unlock()
	w.notify()
}

func (w *leaseWatch) lost() {
	w.mu.Lock()
	w.isLost = true
	w.mu.Unlock()
	w.notify()
}

func (w *leaseWatch) notify() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

func (w *leaseWatch) changed() <-chan struct{} { return w.ch }

func (w *leaseWatch) state() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.isLost
}
