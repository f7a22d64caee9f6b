// Package etcd is the [storage.Interface] implementation on an etcd v3
// cluster, for running several kubepki servers against one highly
// available store. It speaks the v3 API through go.etcd.io/etcd/client/v3
// and works with etcd 3.4 and later.
//
// Keys are stored under [Config.Prefix] ("/registry" by default, as
// kube-apiserver does); a key's Revision is etcd's mod revision, writes are
// transactions that compare the create or mod revision, reads are
// linearizable, and continued list pages read at the first page's
// revision, exactly like kube-apiserver's etcd3 storage.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubepki/kubepki/internal/storage"
)

// Defaults for [Config] fields left zero.
const (
	// DefaultPrefix is kube-apiserver's --etcd-prefix default.
	DefaultPrefix = "/registry"
	// DefaultDialTimeout bounds the first connection in [New].
	DefaultDialTimeout = 5 * time.Second
	// DefaultRequestTimeout bounds each request that has no earlier
	// deadline of its own.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes (1.5
	// MiB); larger writes are refused before they are sent.
	DefaultMaxRequestBytes = 3 << 19
	// requestOverhead is what a put transaction adds to key and value.
	requestOverhead = 512
)

// Config configures [New].
type Config struct {
	// Endpoints are the etcd client URLs, as kube-apiserver's
	// --etcd-servers: "https://10.0.0.1:2379" or, explicitly, "http://…".
	Endpoints []string
	// TLS, when set, is used for every connection; see [TLSConfig].
	TLS *tls.Config
	// Prefix is prepended to every key; empty means DefaultPrefix. A
	// trailing slash is removed, so "/registry/" and "/registry" agree.
	// Keys given to the store should start with "/".
	Prefix string
	// DialTimeout bounds the connection check in New; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// RequestTimeout bounds each request; zero means DefaultRequestTimeout.
	// Watches are not bounded.
	RequestTimeout time.Duration
	// MaxRequestBytes is the largest write sent; zero means
	// DefaultMaxRequestBytes. Set it to the server's --max-request-bytes.
	MaxRequestBytes int
}

// Store is an etcd-backed [storage.Interface]. It is safe for concurrent use.
type Store struct {
	client *clientv3.Client
	prefix string
	cfg    Config

	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed under hub.mu by Close
	watches   sync.WaitGroup
	hub       hub
}

var _ storage.Interface = (*Store)(nil)
var _ storage.Healther = (*Store)(nil)

// New connects to the etcd cluster and checks that it answers a
// linearizable read within cfg.DialTimeout. The error wraps
// storage.ErrUnavailable when the cluster cannot be reached; when no
// endpoint accepts a TCP connection and TLS handshake either, it names
// each endpoint's cause (connection refused, a certificate that does not
// verify, a client certificate etcd refused) instead of the timeout.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints given; set --etcd-servers")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	for _, ep := range cfg.Endpoints {
		if strings.HasPrefix(ep, "https://") && cfg.TLS == nil {
			return nil, fmt.Errorf("etcd endpoint %s is https but no TLS configuration is given; set --etcd-cafile, --etcd-certfile and --etcd-keyfile", ep)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  cfg.TLS,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		// Leave room above the server's request limit so that it, not the
		// client, refuses oversized requests with a clear error.
		MaxCallSendMsgSize: cfg.MaxRequestBytes + (1 << 20),
		Logger:             zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	s := &Store{client: client, prefix: strings.TrimSuffix(cfg.Prefix, "/"), cfg: cfg, closing: make(chan struct{})}
	s.hub.s = s
	hctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := s.Health(hctx); err != nil {
		client.Close()
		// The client says only that no member answered; a failed TCP
		// connection or TLS handshake is the likelier cause, and says
		// which flag to fix.
		if ctx.Err() == nil && errors.Is(err, storage.ErrUnavailable) {
			if cause := probeEndpoints(ctx, cfg.Endpoints, cfg.TLS); cause != nil {
				err = fmt.Errorf("%w: %w", cause, storage.ErrUnavailable)
			}
		}
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return s, nil
}

// Client returns the underlying etcd client, for users such as leader
// election that need more than the storage contract. It stays owned by
// the Store and is closed by Close.
func (s *Store) Client() *clientv3.Client { return s.client }

// Prefix returns the key prefix in use, without a trailing slash.
func (s *Store) Prefix() string { return s.prefix }

// Health reports whether the cluster answers a linearizable read, which
// needs a leader and a quorum. It is meant for /readyz.
func (s *Store) Health(ctx context.Context) error {
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	if _, err := s.client.Get(ctx, s.prefix+"/health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd health check: %w", mapError(ctx, err))
	}
	return nil
}

// requestContext bounds ctx by the request timeout.
func (s *Store) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// Close ends every watch and closes the client. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Under the hub's lock, so that no watch starts after Wait began.
		s.hub.mu.Lock()
		close(s.closing)
		s.hub.mu.Unlock()
		s.watches.Wait()
		if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("close etcd client: %w", err)
		}
	})
	return s.closeErr
}

// checkOpen returns storage.ErrUnavailable once Close was called.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closing:
		return fmt.Errorf("etcd store closed: %w", storage.ErrUnavailable)
	default:
		return nil
	}
}

// kv converts an etcd key-value, stripping the prefix.
func (s *Store) kv(kv *mvccpb.KeyValue) storage.KV {
	return storage.KV{
		Key:            strings.TrimPrefix(string(kv.Key), s.prefix),
		Value:          kv.Value,
		Revision:       kv.ModRevision,
		CreateRevision: kv.CreateRevision,
	}
}

// checkSize refuses writes that etcd would refuse for their size.
func (s *Store) checkSize(key string, value []byte) error {
	if n := len(s.prefix) + len(key) + len(value) + requestOverhead; n > s.cfg.MaxRequestBytes {
		return fmt.Errorf("request of %d bytes exceeds etcd's limit of %d: %w", n, s.cfg.MaxRequestBytes, storage.ErrTooLarge)
	}
	return nil
}

// CurrentRevision returns the cluster's current revision (linearizable).
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read etcd revision: %w", mapError(rctx, err))
	}
	return resp.Header.Revision, nil
}

// Create stores value under key if it does not exist.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	if err := s.checkSize(key, value); err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	k := s.prefix + key
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, mapError(rctx, err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("create %s: %w", key, storage.ErrExists)
	}
	return resp.Header.Revision, nil
}

// Get returns the current value of key (linearizable).
func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	if err := s.checkOpen(ctx); err != nil {
		return storage.KV{}, err
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.prefix+key)
	if err != nil {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, mapError(rctx, err))
	}
	if len(resp.Kvs) == 0 {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, storage.ErrNotFound)
	}
	return s.kv(resp.Kvs[0]), nil
}

// Update replaces key's value if its mod revision is expectedRevision.
func (s *Store) Update(ctx context.Context, key string, expectedRevision int64, value []byte) (int64, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	if err := s.checkSize(key, value); err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	k := s.prefix + key
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", expectedRevision)).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, mapError(rctx, err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("update %s: %w", key, refusal(resp, expectedRevision))
	}
	return resp.Header.Revision, nil
}

// PutIfRevisions writes every value of puts under its key, in one
// transaction, if the mod revision of each key in revisions is the one
// given (0: the key must not exist); keys need not be in both maps. It
// reports whether it wrote, and writes nothing when any revision differs,
// so that several servers agreeing on a set of keys (a store's identity)
// see either all of one server's values or none. At most 64 keys in each
// map keep the transaction under etcd's 128 operations.
func (s *Store) PutIfRevisions(ctx context.Context, revisions map[string]int64, puts map[string][]byte) (bool, error) {
	if err := s.checkOpen(ctx); err != nil {
		return false, err
	}
	if len(revisions) > 64 || len(puts) > 64 {
		return false, fmt.Errorf("put %d keys if %d revisions: over 64 keys: %w", len(puts), len(revisions), storage.ErrTooLarge)
	}
	cmps := make([]clientv3.Cmp, 0, len(revisions))
	for key, rev := range revisions {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.prefix+key), "=", rev))
	}
	ops := make([]clientv3.Op, 0, len(puts))
	for key, value := range puts {
		if err := s.checkSize(key, value); err != nil {
			return false, fmt.Errorf("put %s: %w", key, err)
		}
		ops = append(ops, clientv3.OpPut(s.prefix+key, string(value)))
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("put %d keys: %w", len(puts), mapError(rctx, err))
	}
	return resp.Succeeded, nil
}

// refusal explains a failed compare: the Else branch's Get says whether the
// key exists.
func refusal(resp *clientv3.TxnResponse, expected int64) error {
	if len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
		return storage.ErrNotFound
	}
	got := resp.Responses[0].GetResponseRange().Kvs[0].ModRevision
	return fmt.Errorf("expected revision %d, key is at %d: %w", expected, got, storage.ErrConflict)
}

// Delete removes key, if expectedRevision is 0 or its mod revision.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KV, error) {
	if err := s.checkOpen(ctx); err != nil {
		return storage.KV{}, err
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	k := s.prefix + key
	txn := s.client.Txn(rctx)
	if expectedRevision != 0 {
		txn = txn.If(clientv3.Compare(clientv3.ModRevision(k), "=", expectedRevision))
	}
	resp, err := txn.
		Then(clientv3.OpDelete(k, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return storage.KV{}, fmt.Errorf("delete %s: %w", key, mapError(rctx, err))
	}
	if !resp.Succeeded {
		return storage.KV{}, fmt.Errorf("delete %s: %w", key, refusal(resp, expectedRevision))
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del.Deleted == 0 || len(del.PrevKvs) == 0 {
		return storage.KV{}, fmt.Errorf("delete %s: %w", key, storage.ErrNotFound)
	}
	kv := s.kv(del.PrevKvs[0])
	kv.Revision = resp.Header.Revision
	return kv, nil
}

// List returns a page of the keys under prefix. The first page is a
// linearizable read; continued pages read at the first page's revision and
// give storage.ErrCompacted once etcd compacted it.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if err := s.checkOpen(ctx); err != nil {
		return storage.ListResult{}, err
	}
	start := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(start)
	getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
	if opts.Limit > 0 {
		getOpts = append(getOpts, clientv3.WithLimit(opts.Limit))
	}
	var atRev int64
	if opts.Continue != "" {
		rev, lastKey, err := storage.DecodeContinue(prefix, opts.Continue)
		if err != nil {
			return storage.ListResult{}, fmt.Errorf("list %q: %w", prefix, err)
		}
		atRev = rev
		start = s.prefix + lastKey + "\x00"
		getOpts = append(getOpts, clientv3.WithRev(rev))
	} else if opts.Revision > 0 {
		atRev = opts.Revision
		getOpts = append(getOpts, clientv3.WithRev(opts.Revision))
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, start, getOpts...)
	if err != nil {
		err = mapError(rctx, err)
		if errors.Is(err, errFutureRevision) {
			if opts.Continue != "" {
				err = fmt.Errorf("continue token at revision %d is newer than the cluster: %w", atRev, storage.ErrInvalidContinue)
			} else {
				err = fmt.Errorf("revision %d is newer than the cluster: %w", atRev, storage.ErrFutureRevision)
			}
		}
		return storage.ListResult{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	res := storage.ListResult{Revision: resp.Header.Revision, Items: make([]storage.KV, 0, len(resp.Kvs))}
	if atRev != 0 {
		res.Revision = atRev
	}
	for _, kv := range resp.Kvs {
		res.Items = append(res.Items, s.kv(kv))
	}
	if resp.More && len(res.Items) > 0 {
		res.Continue = storage.EncodeContinue(res.Revision, res.Items[len(res.Items)-1].Key)
		remaining := resp.Count - int64(len(res.Items))
		res.RemainingItemCount = &remaining
	}
	return res, nil
}

// Compact compacts etcd's history up to revision, physically, so that
// watches from and lists continued at older revisions get
// storage.ErrCompacted. It affects the whole cluster, not only this
// store's prefix; kube-apiserver does the same every five minutes.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	if _, err := s.client.Compact(rctx, revision, clientv3.WithCompactPhysical()); err != nil {
		err = mapError(rctx, err)
		if errors.Is(err, storage.ErrCompacted) {
			return nil // already compacted at or beyond revision
		}
		return fmt.Errorf("compact etcd to revision %d: %w", revision, err)
	}
	return nil
}

// errFutureRevision marks a read at a revision the cluster has not reached.
var errFutureRevision = errors.New("revision not yet reached")

// mapError turns etcd and gRPC errors into the storage sentinels: the
// caller's own cancellation stays as it is, compaction is ErrCompacted,
// oversized requests ErrTooLarge, and every condition a retry can cure
// (no leader, no quorum, unreachable members, timeouts) wraps
// ErrUnavailable, and the NOSPACE alarm of a full backend, which needs an
// operator, ErrNoSpace.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || (ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled)) {
		return context.Canceled
	}
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%v: %w", err, storage.ErrCompacted)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%v: %w", err, errFutureRevision)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%v: %w", err, storage.ErrTooLarge)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%v (defragment etcd and disarm the NOSPACE alarm): %w", err, storage.ErrNoSpace)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("etcd did not answer in time: %w (%w)", storage.ErrUnavailable, context.DeadlineExceeded)
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
			return fmt.Errorf("%v: %w", err, storage.ErrUnavailable)
		}
		return err
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
			return fmt.Errorf("%v: %w", err, storage.ErrUnavailable)
		}
	}
	return err
}
