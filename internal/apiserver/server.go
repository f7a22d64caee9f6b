// Package apiserver serves the certificates.k8s.io/v1 CertificateSigningRequest
// API to stock kubectl and client-go: routing, content negotiation,
// discovery and OpenAPI, CSR handlers with their subresources, watch
// streaming, server-side tables, Status errors, self reviews, health and
// metrics, client-certificate authentication, impersonation and RBAC
// authorization.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/storage"
)

// Defaults for the limits in Config.
const (
	DefaultMaxBodyBytes       = 3 << 20 // kube-apiserver's request body cap
	DefaultMaxInFlight        = 400     // kube-apiserver's --max-requests-inflight
	DefaultMaxWatchesPerUser  = 100
	DefaultMaxListPage        = 5000
	DefaultMaxListPageBytes   = 2 << 20
	DefaultMaxConcurrentLists = 4
	DefaultMaxWatchDuration   = 30 * time.Minute // kube-apiserver's --min-request-timeout
	DefaultBookmarkInterval   = time.Minute
	DefaultRequestTimeout     = 60 * time.Second
	// MaxHeaderBytes caps the request header block (431 beyond).
	MaxHeaderBytes = 1 << 20
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections left idle.
	IdleTimeout = 90 * time.Second
	// ShutdownTimeout bounds the drain of in-flight requests on stop.
	ShutdownTimeout = 30 * time.Second
)

// csrPrefix is the store prefix of CSR objects. The etcd store adds
// --etcd-prefix (default /registry), which gives kube-apiserver's own key
// layout, /registry/certificatesigningrequests/NAME.
const csrPrefix = "/certificatesigningrequests/"

// Config configures a Server. Store, Authenticator and Authorizer are
// required; every other field has a useful zero value.
type Config struct {
	// Store holds the CSR objects.
	Store storage.Interface
	// Authenticator identifies each request (TLS client certificates).
	Authenticator Authenticator
	// Authorizer decides each request and the approve/sign admission checks.
	Authorizer Authorizer
	// Policy answers SelfSubjectRulesReview (kubectl auth can-i --list);
	// nil answers with an empty, incomplete rule list.
	Policy *Policy
	// Logger receives request, audit and error logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes caps request bodies (413 beyond); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInFlight caps concurrent non-watch requests (429 beyond); 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// MaxWatchesPerUser caps concurrent watches of one user (429 beyond);
	// 0 means DefaultMaxWatchesPerUser.
	MaxWatchesPerUser int
	// MaxInFlightPerUser caps the non-watch requests one authenticated
	// user has in flight (429 beyond), so that no single client, however
	// slowly it sends, holds the whole MaxInFlight budget. 0 means a
	// quarter of MaxInFlight.
	MaxInFlightPerUser int
	// MaxPendingPerUser caps the pending CSRs (neither approved nor
	// denied) of one requester: creates beyond it are refused with 403.
	// 0 means DefaultMaxPendingPerUser; a negative value sets no limit.
	MaxPendingPerUser int
	// MaxListPage caps the items of one list answer; larger or unlimited
	// lists are paged with a continue token. 0 means DefaultMaxListPage.
	MaxListPage int64
	// MaxListPageBytes caps the stored bytes one page of a list with a
	// limit reads (at least one object is always returned); the rest
	// follows with a continue token, so that a list's memory does not
	// grow with the size of the objects. A list without limit may read 16
	// times as much. 0 means DefaultMaxListPageBytes.
	MaxListPageBytes int64
	// MaxConcurrentLists caps the list pages read at once for clients
	// (the in-process controllers are exempt); more wait their turn,
	// within their request deadline. 0 means DefaultMaxConcurrentLists.
	MaxConcurrentLists int
	// MaxWatchDuration ends watches that asked for no timeoutSeconds; 0
	// means DefaultMaxWatchDuration.
	MaxWatchDuration time.Duration
	// BookmarkInterval is how often watches that allow bookmarks get one;
	// 0 means DefaultBookmarkInterval.
	BookmarkInterval time.Duration
	// RequestTimeout bounds non-watch requests; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Registry receives the server's metrics and is served at /metrics;
	// nil means a fresh registry.
	Registry *prometheus.Registry
	// ExternalAddress is advertised in legacy /api discovery
	// (serverAddressByClientCIDRs); empty omits it.
	ExternalAddress string
}

// Server is the API server. Create it with New, serve Handler over TLS (Run
// does it), and give controllers LocalClient.
type Server struct {
	cfg      Config
	store    storage.Interface
	authn    Authenticator
	authz    Authorizer
	log      *slog.Logger
	now      func() time.Time
	codecs   *codecs
	jsonInfo runtime.SerializerInfo
	metrics  *metrics
	handler  http.Handler
	loopback *memListener
	// openAPIDocs returns the /openapi/v3 documents, built on first use.
	openAPIDocs func() (map[string]openAPIDoc, error)
	// openAPIV2 returns the /openapi/v2 document, built on first use.
	openAPIV2 func() (openAPIV2, error)

	inflight chan struct{}
	lists    chan struct{} // list pages being read for clients
	// events shares decoded and encoded store events among watches.
	events sharedEvents
	// pending counts each requester's pending CSRs; nil without a limit.
	pending *pendingIndex

	// faultLogs rate-limit the log lines of store faults, one per kind.
	faultLogs [numFaults]faultLog

	mu       sync.Mutex
	watches  map[string]int // active watches per user
	inFlight map[string]int // non-watch requests in flight per user
	stopping chan struct{}  // closed when Run begins shutting down
	stopOnce sync.Once
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("apiserver: Config.Store is required")
	}
	if cfg.Authenticator == nil {
		return nil, errors.New("apiserver: Config.Authenticator is required")
	}
	if cfg.Authorizer == nil {
		return nil, errors.New("apiserver: Config.Authorizer is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlightPerUser <= 0 {
		cfg.MaxInFlightPerUser = max(1, cfg.MaxInFlight/4)
	}
	if cfg.MaxWatchesPerUser <= 0 {
		cfg.MaxWatchesPerUser = DefaultMaxWatchesPerUser
	}
	if cfg.MaxListPageBytes <= 0 {
		cfg.MaxListPageBytes = DefaultMaxListPageBytes
	}
	if cfg.MaxConcurrentLists <= 0 {
		cfg.MaxConcurrentLists = DefaultMaxConcurrentLists
	}
	if cfg.MaxListPage <= 0 {
		cfg.MaxListPage = DefaultMaxListPage
	}
	if cfg.MaxPendingPerUser == 0 {
		cfg.MaxPendingPerUser = DefaultMaxPendingPerUser
	}
	if cfg.MaxWatchDuration <= 0 {
		cfg.MaxWatchDuration = DefaultMaxWatchDuration
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	c, err := newCodecs()
	if err != nil {
		return nil, err
	}
	jsonInfo, ok := c.serializerFor(mediaJSON)
	if !ok {
		return nil, errors.New("apiserver: no JSON serializer")
	}
	s := &Server{
		cfg:         cfg,
		store:       cfg.Store,
		authn:       cfg.Authenticator,
		authz:       cfg.Authorizer,
		log:         cfg.Logger,
		now:         cfg.Now,
		codecs:      c,
		jsonInfo:    jsonInfo,
		loopback:    newMemListener(),
		openAPIDocs: sync.OnceValues(buildOpenAPIDocs),
		openAPIV2:   sync.OnceValues(buildOpenAPIV2),
		inflight:    make(chan struct{}, cfg.MaxInFlight),
		lists:       make(chan struct{}, cfg.MaxConcurrentLists),
		watches:     map[string]int{},
		inFlight:    map[string]int{},
		stopping:    make(chan struct{}),
	}
	if cfg.MaxPendingPerUser > 0 {
		s.pending = newPendingIndex()
	}
	m, err := newMetrics(cfg.Registry, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.handler = s.buildHandler()
	return s, nil
}

// Handler returns the server's HTTP handler with every filter (recovery,
// metrics, limits, authentication, authorization) in front of the API.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the TLS settings the server uses: TLS 1.2 minimum
// with ECDHE key exchange and AEAD ciphers only, HTTP/2 and HTTP/1.1, and
// client certificates requested (verified by the Authenticator, so that an
// expired or foreign certificate gets a 401 Status rather than a TLS alert).
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		ClientAuth:    tls.RequestClientCert,
		NextProtos:    []string{"h2", "http/1.1"},
		Renegotiation: tls.RenegotiateNever,
	}
}

// Run serves the API on ln with tlsConfig (see TLSConfig) and the
// in-process loopback listener until ctx ends, then stops accepting,
// closes watches, and drains in-flight requests for up to ShutdownTimeout.
// It does not close the store.
func (s *Server) Run(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	newHTTPServer := func() *http.Server {
		hs := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: ReadHeaderTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 250},
		}
		return hs
	}
	public := newHTTPServer()
	public.TLSConfig = tlsConfig
	loop := newHTTPServer()
	loop.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, loopbackKey{}, true)
	}
	if s.pending != nil {
		ictx, stopIndex := context.WithCancel(context.WithValue(ctx, loopbackKey{}, true))
		defer stopIndex()
		go s.runPendingIndex(ictx)
	}
	errc := make(chan error, 2)
	go func() { errc <- public.Serve(tls.NewListener(ln, tlsConfig)) }()
	go func() { errc <- loop.Serve(s.loopback) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, hs := range []*http.Server{public, loop} {
		wg.Go(func() {
			if serr := hs.Shutdown(sctx); serr != nil {
				_ = hs.Close()
			}
		})
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// LoopbackConfig returns a client-go configuration that reaches this
// server in-process, through a listener that exists only in memory, as
// the controller identity (user system:kube-controller-manager in group
// system:masters). No credential in it works from the network.
func (s *Server) LoopbackConfig() *rest.Config {
	return &rest.Config{
		Host:      "http://" + loopbackHost,
		UserAgent: "kubepki-loopback",
		QPS:       -1, // no client-side rate limit for in-process controllers
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return s.loopback.DialContext(ctx)
		},
	}
}

// loopbackUser is the identity of requests over the loopback listener.
func loopbackUser() *UserInfo {
	return &UserInfo{
		Name:   UserKubeControllerManager,
		Groups: []string{GroupMasters, GroupAuthenticated},
	}
}

type loopbackKey struct{}

func isLoopback(ctx context.Context) bool {
	v, _ := ctx.Value(loopbackKey{}).(bool)
	return v
}
