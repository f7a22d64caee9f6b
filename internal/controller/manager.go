package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

// Defaults for Config fields left zero.
const (
	// DefaultSigningDuration is kube-controller-manager's
	// --cluster-signing-duration default.
	DefaultSigningDuration = 365 * 24 * time.Hour
	// DefaultWorkers is the number of workers per queue: each CSR takes two
	// durable writes, so throughput is workers / (2 × write latency).
	DefaultWorkers = 32
	// DefaultResyncPeriod is how often every cached CSR is looked at again
	// even without an event.
	DefaultResyncPeriod = 5 * time.Minute
	// DefaultCleanInterval is how often the cleaner runs
	// (kube-controller-manager's csrcleaner polls hourly).
	DefaultCleanInterval = time.Hour
	// DefaultReservationTimeout is how long another holder's reservation
	// is respected before it is taken over (when running without an
	// Elector); a live signer stores its certificate within milliseconds.
	DefaultReservationTimeout = time.Minute
	// campaignRetry is the pause after a failed election campaign.
	campaignRetry = time.Second
)

// SignerCAs maps each built-in signer name to the CA that signs for it.
type SignerCAs map[string]*pki.CA

// SameCA returns SignerCAs with ca for every built-in signer, as
// --cluster-signing-cert-file/--cluster-signing-key-file configure
// kube-controller-manager.
func SameCA(ca *pki.CA) SignerCAs {
	s := SignerCAs{}
	for _, name := range certificates.BuiltInSigners() {
		s[name] = ca
	}
	return s
}

// Elector decides which of several processes runs the controllers.
type Elector interface {
	// Campaign blocks until this process leads or ctx ends. The returned
	// context ends when leadership is lost (or ctx ends).
	Campaign(ctx context.Context) (leaderCtx context.Context, err error)
}

// Config configures a Manager.
type Config struct {
	// Client is the API the controllers use. Required.
	Client certv1client.CertificateSigningRequestInterface
	// Signers holds the CA for each built-in signer to run; a signer
	// without a CA leaves its CSRs alone. Nil runs no signer.
	Signers SignerCAs
	// SigningDuration caps certificate lifetimes (the CSR's
	// expirationSeconds may shorten it). Zero means DefaultSigningDuration.
	SigningDuration time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives state changes and the audit line of every decision;
	// nil discards them.
	Logger *slog.Logger
	// NodeInventory enables auto-approval of kubelet-serving CSRs whose
	// SANs all belong to the node; nil never auto-approves them.
	NodeInventory func(nodeName string) (dns []string, ips []net.IP, ok bool)
	// Authorize checks a kubelet client CSR's requester for the
	// selfnodeclient/nodeclient permission; nil means kubeadm's default
	// bindings (certificates.DefaultAuthorize).
	Authorize certificates.AuthorizeFunc
	// Elector, when set, runs the controllers only while this process
	// leads; nil means always (a single server).
	Elector Elector
	// Metrics receives optional measurements.
	Metrics *Metrics
	// Identity names this process in reservations and logs; empty means
	// the host name plus a random suffix.
	Identity string
	// Workers per queue; zero means DefaultWorkers.
	Workers int
	// ResyncPeriod; zero means DefaultResyncPeriod.
	ResyncPeriod time.Duration
	// CleanInterval; zero means DefaultCleanInterval.
	CleanInterval time.Duration
	// ReservationTimeout; zero means DefaultReservationTimeout.
	ReservationTimeout time.Duration
	// DisableApprover and DisableCleaner turn those loops off.
	DisableApprover, DisableCleaner bool
	// OnSynced, when set, is called once the controllers' cache holds
	// every CSR of its initial list (once each term with an Elector),
	// before they act on any: the moment a server can give back what that
	// full read cost it.
	OnSynced func()
}

// Manager runs the signer, auto-approver and cleaner.
type Manager struct {
	client   certv1client.CertificateSigningRequestInterface
	signers  SignerCAs
	duration time.Duration
	now      func() time.Time
	log      *slog.Logger
	policy   certificates.ApprovalPolicy
	elector  Elector
	metrics  Metrics
	identity string
	workers  int
	resync   time.Duration
	clean    time.Duration
	reserve  time.Duration
	approve  bool
	cleaner  bool
	onSynced func()

	// pending holds certificates signed but not yet stored, by CSR UID, so
	// that a failed store is retried with the same certificate instead of
	// signing again.
	mu      sync.Mutex
	pending map[types.UID]pendingCert

	// cached is the informer store of the current term, for CachedCount.
	cached atomic.Pointer[cache.Store]
	// synced reports, for the current term, whether the event handlers
	// have received every CSR of the informer's initial list.
	synced atomic.Pointer[cache.InformerSynced]
}

// New checks cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("controller: Config.Client is required")
	}
	for name, ca := range cfg.Signers {
		if !certificates.IsBuiltInSigner(name) {
			return nil, fmt.Errorf("controller: %q is not a built-in signer; use one of %v", name, certificates.BuiltInSigners())
		}
		if ca == nil || ca.Cert == nil || ca.Key == nil {
			return nil, fmt.Errorf("controller: signer %q has no CA certificate and key", name)
		}
	}
	if cfg.SigningDuration < 0 {
		return nil, fmt.Errorf("controller: signing duration %v is negative", cfg.SigningDuration)
	}
	m := &Manager{
		client:   cfg.Client,
		signers:  cfg.Signers,
		duration: orDefault(cfg.SigningDuration, DefaultSigningDuration),
		now:      cfg.Now,
		log:      cfg.Logger,
		policy:   certificates.ApprovalPolicy{Authorize: cfg.Authorize, Inventory: cfg.NodeInventory},
		elector:  cfg.Elector,
		identity: cfg.Identity,
		workers:  cfg.Workers,
		resync:   orDefault(cfg.ResyncPeriod, DefaultResyncPeriod),
		clean:    orDefault(cfg.CleanInterval, DefaultCleanInterval),
		reserve:  orDefault(cfg.ReservationTimeout, DefaultReservationTimeout),
		approve:  !cfg.DisableApprover,
		cleaner:  !cfg.DisableCleaner,
		onSynced: cfg.OnSynced,
		pending:  map[types.UID]pendingCert{},
	}
	if cfg.Metrics != nil {
		m.metrics = *cfg.Metrics
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.workers <= 0 {
		m.workers = DefaultWorkers
	}
	if m.identity == "" {
		host, _ := os.Hostname()
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("controller: identity: %w", err)
		}
		m.identity = host + "-" + hex.EncodeToString(b[:])
	}
	return m, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Identity returns the name this Manager writes into reservations.
func (m *Manager) Identity() string { return m.identity }

// CachedCount returns how many CSRs the informer of the current term
// holds (0 before the first term starts). Benchmarks use it to wait until
// the controllers have caught up with the store.
func (m *Manager) CachedCount() int {
	if s := m.cached.Load(); s != nil {
		return len((*s).ListKeys())
	}
	return 0
}

// Synced reports whether the controllers of the current term have seen
// every CSR of their initial list (false before the first term).
func (m *Manager) Synced() bool {
	if f := m.synced.Load(); f != nil {
		return (*f)()
	}
	return false
}

// Run runs the controllers until ctx ends and returns nil then. With an
// Elector it campaigns, runs while leading, and campaigns again after
// losing leadership.
func (m *Manager) Run(ctx context.Context) error {
	if m.elector == nil {
		return m.runTerm(ctx)
	}
	for ctx.Err() == nil {
		leaderCtx, err := m.elector.Campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.log.Warn("leader election campaign failed", "identity", m.identity, "err", err)
			t := time.NewTimer(campaignRetry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		m.log.Info("leading: controllers starting", "identity", m.identity)
		if err := m.runTerm(leaderCtx); err != nil {
			return err
		}
		m.log.Info("leadership ended: controllers stopped", "identity", m.identity)
	}
	return nil
}

// runTerm runs the informer, queues and loops until ctx ends, and returns
// after every worker has stopped.
func (m *Manager) runTerm(ctx context.Context) error {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return m.client.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return m.client.Watch(ctx, opts)
		},
	}
	informer := cache.NewSharedIndexInformerWithOptions(lw, &certv1.CertificateSigningRequest{},
		cache.SharedIndexInformerOptions{ResyncPeriod: m.resync, ObjectDescription: "certificatesigningrequests"})
	if err := informer.SetTransform(m.slimForCache); err != nil {
		return fmt.Errorf("controller: set informer transform: %w", err)
	}
	store := informer.GetStore()
	m.cached.Store(&store)
	signQ := newQueue("csrsigning")
	approveQ := newQueue("csrapproving")
	enqueue := func(obj any) {
		csr, ok := obj.(*certv1.CertificateSigningRequest)
		if !ok {
			return // a record (see cache.go) is never acted on
		}
		if m.wantsSigning(csr) {
			signQ.Add(csr.Name)
		}
		if m.approve && m.mayAutoApprove(csr) {
			approveQ.Add(csr.Name)
		}
	}
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if csr, ok := asCSR(obj); ok {
				m.dropPending(csr.UID)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("controller: add event handler: %w", err)
	}
	handlersSynced := cache.InformerSynced(reg.HasSynced)
	m.synced.Store(&handlersSynced)

	var wg sync.WaitGroup
	wg.Go(func() { informer.RunWithContext(ctx) })
	defer wg.Wait()
	defer signQ.ShutDown()
	defer approveQ.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced, reg.HasSynced) {
		return nil // ctx ended first
	}
	if m.onSynced != nil {
		m.onSynced()
	}
	m.log.Info("controllers synced", "cached", m.CachedCount())
	get := func(name string) (*certv1.CertificateSigningRequest, bool) {
		obj, ok, err := informer.GetIndexer().GetByKey(name)
		if err != nil || !ok {
			return nil, false
		}
		if r, ok := obj.(*record); ok {
			return r.csr(), true // a new object already
		}
		csr, ok := obj.(*certv1.CertificateSigningRequest)
		if !ok {
			return nil, false
		}
		return csr.DeepCopy(), true
	}
	for range m.workers {
		wg.Go(func() { m.work(ctx, signQ, get, m.sign) })
		if m.approve {
			wg.Go(func() { m.work(ctx, approveQ, get, m.autoApprove) })
		}
	}
	if m.cleaner {
		wg.Go(func() { m.cleanLoop(ctx, informer.GetStore()) })
	}
	<-ctx.Done()
	return nil
}

// mayAutoApprove reports whether the approver should look at csr: pending,
// not issued, for a signer the approval policy may approve
// (kube-apiserver-client-kubelet always, since the requester's permission
// is asked anew each time; kubelet-serving only with a node inventory).
func (m *Manager) mayAutoApprove(csr *certv1.CertificateSigningRequest) bool {
	switch csr.Spec.SignerName {
	case certificates.SignerKubeAPIServerClientKubelet:
	case certificates.SignerKubeletServing:
		if m.policy.Inventory == nil {
			return false
		}
	default:
		return false
	}
	return certificates.IsPending(csr) && !certificates.HasCertificate(csr)
}

// whole returns csr itself, or, when csr is a slimmed cached copy, the CSR
// read from the API (nil if it is gone or changed uid), so that no
// decision or write ever rests on a slimmed copy.
func (m *Manager) whole(ctx context.Context, csr *certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
	if !slimmed(csr) {
		return csr, nil
	}
	fresh, err := m.client.Get(ctx, csr.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", csr.Name, err)
	case fresh.UID != csr.UID:
		return nil, nil
	}
	return fresh, nil
}

func newQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// handler processes one CSR; a positive retry asks to look again later.
type handler func(ctx context.Context, csr *certv1.CertificateSigningRequest) (retry time.Duration, err error)

// work takes names off q until it shuts down and runs h on the cached
// object. Failures are retried with the queue's rate limit.
func (m *Manager) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string],
	get func(string) (*certv1.CertificateSigningRequest, bool), h handler) {
	for {
		name, quit := q.Get()
		if quit {
			return
		}
		func() {
			defer q.Done(name)
			csr, ok := get(name)
			if !ok {
				q.Forget(name)
				return
			}
			retry, err := h(ctx, csr)
			switch {
			case err != nil && ctx.Err() == nil:
				m.log.Warn("csr processing failed; retrying", "csr", name, "err", err)
				q.AddRateLimited(name)
			case err != nil:
			case retry > 0:
				q.Forget(name)
				q.AddAfter(name, retry)
			default:
				q.Forget(name)
			}
		}()
	}
}
