// Package etcdtest starts real etcd members in the test process, with
// go.etcd.io/etcd/server/v3/embed, on 127.0.0.1 ports chosen at random and
// data directories under t.TempDir(). Members can be stopped and
// restarted to test fault handling. It is imported only by tests.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 60 * time.Second

// TLSFiles are the PEM files a member uses to serve clients over mutual TLS.
type TLSFiles struct {
	// CertFile and KeyFile are the member's serving certificate and key;
	// the certificate must be valid for IP 127.0.0.1.
	CertFile, KeyFile string
	// ClientCAFile holds the CA that client certificates must chain to.
	ClientCAFile string
}

// Options selects the cluster to start. The zero value is one member
// serving plain HTTP.
type Options struct {
	// Members is 1 or 3 (or any positive count); zero means 1.
	Members int
	// ClientTLS, when set, makes members serve clients over HTTPS and
	// require client certificates.
	ClientTLS *TLSFiles
	// AutoCompactionRetention, when set, is passed to etcd in revision
	// mode (for example "1000"); by default etcd never compacts.
	AutoCompactionRetention string
}

// Cluster is a running set of members. Its methods are safe for
// concurrent use.
type Cluster struct {
	members []*Member
}

// Member is one etcd server of a Cluster.
type Member struct {
	// Name is the member's name: m0, m1, …
	Name string
	// ClientURL is the URL clients connect to.
	ClientURL string

	mu   sync.Mutex
	cfg  *embed.Config
	etcd *embed.Etcd
}

// Start starts a cluster, waits until every member is ready, and stops it
// at the end of the test. It fails the test if the cluster does not start
// within a minute.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	n := opts.Members
	if n <= 0 {
		n = 1
	}
	var lastErr error
	// Ports are picked by listening on port 0 and closing; another process
	// may take one in between, so a failed start is retried with new ports.
	for attempt := 0; attempt < 3; attempt++ {
		c, err := start(t, n, opts)
		if err == nil {
			t.Cleanup(c.stop)
			return c
		}
		lastErr = err
	}
	t.Fatalf("start %d-member etcd cluster: %v", n, lastErr)
	return nil
}

func start(t testing.TB, n int, opts Options) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if opts.ClientTLS != nil {
		scheme = "https"
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		clientURL := url.URL{Scheme: scheme, Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg := embed.NewConfig()
		cfg.Name = name
		cfg.Dir = t.TempDir()
		cfg.ListenClientUrls = []url.URL{clientURL}
		cfg.AdvertiseClientUrls = []url.URL{clientURL}
		cfg.ListenPeerUrls = []url.URL{peerURL}
		cfg.AdvertisePeerUrls = []url.URL{peerURL}
		cfg.InitialClusterToken = "kubepki-test"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.LogLevel = "error"
		if opts.AutoCompactionRetention != "" {
			cfg.AutoCompactionMode = embed.CompactorModeRevision
			cfg.AutoCompactionRetention = opts.AutoCompactionRetention
		}
		if tf := opts.ClientTLS; tf != nil {
			cfg.ClientTLSInfo = transport.TLSInfo{CertFile: tf.CertFile, KeyFile: tf.KeyFile, TrustedCAFile: tf.ClientCAFile, ClientCertAuth: true}
		}
		initial = append(initial, name+"="+peerURL.String())
		c.members = append(c.members, &Member{Name: name, ClientURL: clientURL.String(), cfg: cfg})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	// Members of a new cluster wait for each other, so start them together.
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() { errs <- m.start() }()
	}
	var startErr error
	for range n {
		startErr = errors.Join(startErr, <-errs)
	}
	if startErr != nil {
		c.stop()
		return nil, startErr
	}
	return c, nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start runs the member and waits until it is ready.
func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		return nil
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("start member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("member %s: %w", m.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("member %s not ready after %v", m.Name, startTimeout)
	}
	m.etcd = e
	return nil
}

// Stop stops the member, keeping its data directory. It is idempotent.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// Restart starts a stopped member again on the same ports and data, and
// waits until it has rejoined. It fails the test on error.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	m.Stop()
	// The restarted member reads its cluster from its data directory.
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	if err := m.start(); err != nil {
		t.Fatalf("restart etcd member: %v", err)
	}
}

// Running reports whether the member is running.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

// Leader returns the member that is currently the raft leader, or nil
// when no running member is.
func (c *Cluster) Leader() *Member {
	for _, m := range c.members {
		m.mu.Lock()
		isLeader := m.etcd != nil && m.etcd.Server.Leader() == m.etcd.Server.MemberID()
		m.mu.Unlock()
		if isLeader {
			return m
		}
	}
	return nil
}

// Members returns the cluster's members in name order.
func (c *Cluster) Members() []*Member { return c.members }

// Endpoints returns every member's client URL.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

func (c *Cluster) stop() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(m.Stop)
	}
	wg.Wait()
}
