package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/filelock"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
	"github.com/kubepki/kubepki/internal/storage/etcd"
)

// Defaults of kubepki serve, named after kube-apiserver's and
// kube-controller-manager's.
const (
	defaultSecurePort      = 6443
	defaultBindAddress     = "127.0.0.1"
	defaultSigningDuration = 8760 * time.Hour
	minSigningDuration     = 10 * time.Minute
	serveStoreFile         = "kubepki.db"
	// serveStoreMarker, next to the store, records that serve created
	// the store in this data dir, so that a later start without the
	// store knows it is missing rather than never made.
	serveStoreMarker                 = "kubepki.db.created"
	serveStoreMarkerMode os.FileMode = 0o600
	// serveEtcdStoreID, in the data dir, records the ID of the etcd
	// store serve used, which it keeps under etcdStoreIDKey in etcd, so
	// that a later start against an etcd that lost it, or against
	// another cluster's, knows the store is not the one it had.
	serveEtcdStoreID = "etcd-store-id"
	// etcdStoreIDKey is the store's ID in etcd, under --etcd-prefix.
	etcdStoreIDKey = "/kubepki.io/store-id"
	// etcdSigningCAKey and etcdClientCAKey, under --etcd-prefix, hold
	// the fingerprints of the signing CA and the client CAs of the
	// store's replicas, which every replica must share (see
	// checkEtcdStore).
	etcdSigningCAKey = "/kubepki.io/signing-ca"
	etcdClientCAKey  = "/kubepki.io/client-ca"
	// serveElectionKey, under --etcd-prefix, is the key prefix of the
	// controllers' leader election of a store with a prefix other than
	// the default (see electionPrefix).
	serveElectionKey = "/kubepki.io/leader/controllers"
	// serveLockFile, in the data dir, is locked by the serve using it
	// with --etcd-servers (see lockDataDir).
	serveLockFile  = "serve.lock"
	serveAdminConf = "admin.conf"
	servePKIDir    = "pki"
)

type serveOptions struct {
	dataDir         string
	securePort      int
	bindAddress     string
	tlsCertFile     string
	tlsKeyFile      string
	clientCAFile    string
	signingCertFile string
	signingKeyFile  string
	signingDuration time.Duration
	policyFile      string
	tokenFile       string
	logFormat       string
	logLevel        string
	etcdServers     []string
	etcdCAFile      string
	etcdCertFile    string
	etcdKeyFile     string
	etcdPrefix      string
	leaderElect     bool
	leaseDuration   time.Duration
	maxPendingCSRs  int
	allowNewStore   bool
	allowNewCA      bool

	// initPKI is set by Complete when the data dir's PKI is ours to create.
	initPKI bool
}

func newServeCommand(streams IOStreams) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --data-dir DIR",
		Short: "Serve the certificates.k8s.io/v1 CSR API to kubectl and client-go",
		Long: `Serve the CertificateSigningRequest API of Kubernetes (certificates.k8s.io/v1)
over HTTPS, to stock kubectl and client-go, with client-certificate
authentication, RBAC authorization, the built-in signers
(kubernetes.io/kube-apiserver-client, kube-apiserver-client-kubelet and
kubelet-serving), kubelet client auto-approval and the CSR cleaner.

User impersonation works as in kube-apiserver: the Impersonate-User,
-Group, -Uid and -Extra-* headers (kubectl --as, --as-group, --as-uid) make
a request run as that user once the authenticated user may "impersonate"
each attribute asked for; the default policy lets only system:masters and
kubeadm:cluster-admins do so. The audit line names both users.

Of the core group (v1), serve has only events, always empty and read-only:
list and watch answer that there are none (kubectl get events, kubectl
describe), writes are refused with 405. Discovery lists them so that kubectl
reads back the List files that "kubectl get csr -o yaml" writes (create -f,
apply -f, replace -f, delete -f).

On the first start without certificate flags, serve creates the cluster PKI in
DIR/pki (kubeadm's layout) and DIR/admin.conf pointing at itself; later starts
reuse them. CSRs are stored in DIR/kubepki.db (bbolt), or in etcd with
--etcd-servers. SIGINT or SIGTERM drains in-flight requests, closes watches and
the store, and exits.

Serve never replaces a lost store silently: when DIR/kubepki.db is missing or
an empty file but the data dir shows that it held one (DIR/kubepki.db.created,
which serve writes next to the store it creates, or DIR/admin.conf from an
earlier first start), serve refuses to start, because a new, empty store would lose every CSR and
start resourceVersions again from 1 under clients that cached higher ones.
Restore kubepki.db from a backup, or pass --allow-new-store to start with an
empty store on purpose (logged as a warning). A corrupt kubepki.db or a missing
CA key stops serve too. With --etcd-servers, serve keeps a random store ID in
etcd (under --etcd-prefix, key /kubepki.io/store-id) and in DIR/etcd-store-id,
and refuses to start when etcd does not hold the store the data dir used
(etcd lost its data, or the flags point at another cluster's); a new data
dir adopts etcd's store, as a second replica does, and --allow-new-store goes
on with etcd's store on purpose.

Replicas sharing etcd must sign with one CA and trust the same client CAs. The
first replica records the SHA-256 fingerprints of its signing CA certificate
and of its client CA certificates in etcd next to the store ID (keys
/kubepki.io/signing-ca and /kubepki.io/client-ca); a replica with other CAs
refuses to start, naming both fingerprints, and a data dir without pki/ is
not given a new PKI while etcd holds a store: copy pki/ from an existing
replica. To rotate the CA, stop every replica, give the first the new CA and
start it once with --allow-new-ca, which records its CAs instead; then start
the others with the same pki/ (docs/ha.md). A start refused for any of these
reasons writes nothing to etcd and leaves the data dir as it was.

A first start that fails (a busy port, a refused store) leaves the data dir
as it was: the port is bound before anything is written, and what a start
added to the data dir is removed again if it fails before serving.

Private keys (the serving key, the keys under DIR/pki, the etcd client key)
and admin.conf that group or others may read get a warning with the chmod
that fixes it; a signing CA key that they may read stops serve.

Every certificate is checked with kubepki lint's rules before the CA key signs
it; one that breaks an error-level rule ends Failed instead. Before signing, the
signer reserves the CSR with a kubepki.io/Issuing condition (status True,
reason Reserved, naming the serial it will use; False, reason Issued, once the
certificate is stored), so that no CSR ever gets two certificates, across
restarts and replicas; "kubectl get csr -w" therefore shows one more MODIFIED
event between Approved and Approved,Issued.

A store that has no space left (a full disk, etcd's NOSPACE alarm) fails
writes with 500 while reads go on; writes resume once space is freed, without a
restart. A request that outlives its deadline (--request-timeout of kubectl, or
the server's 60 s) ends with 504.

Limits keep one client from taking the server: 400 requests in flight (watches
aside), at most 100 of them from one user, 100 watches per user (429 beyond,
with Retry-After); a page of a list with a limit reads at most 2 MiB of stored
objects, one without a limit 32 MiB (the rest follows with a continue token),
and 4 pages are read at a time.
Health probes (/livez, /readyz, /healthz) are exempt, so an overloaded server
is not restarted or taken out of its load balancer for it.

While little is in memory, the Go garbage collector is given room (GOGC up to
400, back to Go's default once 32 MiB are live); GOGC or GOMEMLIMIT in the
environment leave it to Go's own settings. With the bbolt store GOMAXPROCS is
one more than Go's default, so that the cores stay busy while the store waits
for its disk; GOMAXPROCS in the environment decides instead.`,
		Example: `  # Start a server with its own PKI, then use it with kubectl
  kubepki serve --data-dir ./kubepki
  export KUBECONFIG=./kubepki/admin.conf
  kubectl get csr

  # The store was lost and there is no backup: start again with an empty one
  kubepki serve --data-dir ./kubepki --allow-new-store

  # Serve with an existing kubeadm PKI and etcd
  kubepki serve --data-dir /var/lib/kubepki --bind-address 0.0.0.0 \
    --tls-cert-file /etc/kubernetes/pki/apiserver.crt \
    --tls-private-key-file /etc/kubernetes/pki/apiserver.key \
    --client-ca-file /etc/kubernetes/pki/ca.crt \
    --cluster-signing-cert-file /etc/kubernetes/pki/ca.crt \
    --cluster-signing-key-file /etc/kubernetes/pki/ca.key \
    --etcd-servers https://10.0.0.1:2379 --etcd-cafile /etc/kubernetes/pki/etcd/ca.crt \
    --etcd-certfile /etc/kubernetes/pki/apiserver-etcd-client.crt \
    --etcd-keyfile /etc/kubernetes/pki/apiserver-etcd-client.key`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("serve takes no arguments, got %q; use flags such as --data-dir", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "", "folder of the store, and of the PKI and admin.conf serve creates when no certificate flags are given")
	f.IntVar(&o.securePort, "secure-port", defaultSecurePort, "HTTPS port; 0 picks a free one (the address is printed)")
	f.StringVar(&o.bindAddress, "bind-address", defaultBindAddress, "IP address to listen on; 0.0.0.0 for every interface")
	f.StringVar(&o.tlsCertFile, "tls-cert-file", "", "serving certificate (default DIR/pki/apiserver.crt)")
	f.StringVar(&o.tlsKeyFile, "tls-private-key-file", "", "serving key (default DIR/pki/apiserver.key)")
	f.StringVar(&o.clientCAFile, "client-ca-file", "", "CA bundle that client certificates must chain to (default DIR/pki/ca.crt)")
	f.StringVar(&o.signingCertFile, "cluster-signing-cert-file", "", "CA certificate of the built-in signers (default DIR/pki/ca.crt)")
	f.StringVar(&o.signingKeyFile, "cluster-signing-key-file", "", "CA key of the built-in signers (default DIR/pki/ca.key)")
	f.DurationVar(&o.signingDuration, "cluster-signing-duration", defaultSigningDuration, "longest validity of a signed certificate")
	f.IntVar(&o.maxPendingCSRs, "max-pending-csrs-per-user", apiserver.DefaultMaxPendingPerUser, "pending CSRs (neither approved nor denied) one requester outside system:masters may have; creates beyond are refused with 403; 0 for no limit")
	f.StringVar(&o.policyFile, "authorization-policy-file", "", "ClusterRole and ClusterRoleBinding manifests added to the built-in policy")
	f.StringVar(&o.tokenFile, "bootstrap-token-file", "", "kubeadm bootstrap-token Secret manifests; their tokens authenticate as system:bootstrap:<id> (kubelet TLS bootstrap)")
	f.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringSliceVar(&o.etcdServers, "etcd-servers", nil, "etcd client URLs; when set, CSRs are stored in etcd instead of DIR/kubepki.db")
	f.StringVar(&o.etcdCAFile, "etcd-cafile", "", "CA bundle of the etcd servers")
	f.StringVar(&o.etcdCertFile, "etcd-certfile", "", "client certificate for etcd")
	f.StringVar(&o.etcdKeyFile, "etcd-keyfile", "", "client key for etcd")
	f.StringVar(&o.etcdPrefix, "etcd-prefix", "", "key prefix in etcd (default /registry)")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "with --etcd-servers, run the signer, approver and cleaner only on the replica elected leader through etcd")
	f.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", controller.DefaultLeaseTTL, "how long a lost leader's lease blocks a new leader; the leader stops signing before it runs out")
	f.BoolVar(&o.allowNewCA, "allow-new-ca", false, "with --etcd-servers, start although the signing or client CA differs from the one the store's replicas recorded in etcd, or create a new PKI in a data dir without one although etcd holds a store, and record this replica's CAs for the store (a CA rotation: replicas with the old CAs then refuse to start)")
	f.BoolVar(&o.allowNewStore, "allow-new-store", false, "start with a new, empty DIR/kubepki.db even though the data dir shows it held a store before (all CSRs are lost and resourceVersions restart); with --etcd-servers, go on with the store etcd holds although this data dir used another")
	return cmd
}

// Complete fills the certificate paths from the data dir.
func (o *serveOptions) Complete() error {
	if o.dataDir == "" {
		return nil
	}
	pkiDir := filepath.Join(o.dataDir, servePKIDir)
	o.initPKI = o.tlsCertFile == "" && o.tlsKeyFile == "" && o.clientCAFile == "" &&
		o.signingCertFile == "" && o.signingKeyFile == ""
	def := func(p *string, name string) {
		if *p == "" {
			*p = filepath.Join(pkiDir, name)
		}
	}
	def(&o.tlsCertFile, "apiserver.crt")
	def(&o.tlsKeyFile, "apiserver.key")
	def(&o.clientCAFile, "ca.crt")
	def(&o.signingCertFile, "ca.crt")
	def(&o.signingKeyFile, "ca.key")
	return nil
}

// Validate checks flags that can be checked before touching files.
func (o *serveOptions) Validate() error {
	usage := func(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }
	if o.dataDir == "" {
		return usage("--data-dir is required: it holds the store and, without certificate flags, the PKI")
	}
	if o.securePort < 0 || o.securePort > 65535 {
		return usage("--secure-port %d is out of range: use 0 to 65535", o.securePort)
	}
	if net.ParseIP(o.bindAddress) == nil {
		return usage("--bind-address %q is not an IP address", o.bindAddress)
	}
	if o.signingDuration < minSigningDuration {
		return usage("--cluster-signing-duration %s is too short: use at least %s", o.signingDuration, minSigningDuration)
	}
	if o.maxPendingCSRs < 0 {
		return usage("--max-pending-csrs-per-user %d is negative: use 0 for no limit", o.maxPendingCSRs)
	}
	if o.logFormat != "json" && o.logFormat != "text" {
		return usage("--log-format %q is not supported: use json or text", o.logFormat)
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return &UsageError{Err: err}
	}
	if (o.etcdCertFile == "") != (o.etcdKeyFile == "") {
		return usage("--etcd-certfile and --etcd-keyfile go together: give both or neither")
	}
	if len(o.etcdServers) == 0 && (o.etcdCAFile != "" || o.etcdCertFile != "" || o.etcdPrefix != "") {
		return usage("--etcd-cafile, --etcd-certfile, --etcd-keyfile and --etcd-prefix need --etcd-servers")
	}
	if len(o.etcdServers) == 0 && o.allowNewCA {
		return usage("--allow-new-ca needs --etcd-servers: only replicas sharing etcd record their CA")
	}
	return nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q is not supported: use debug, info, warn or error", s)
	}
	return l, nil
}

func (o *serveOptions) logger(w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(o.logLevel)
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	return slog.New(slog.NewJSONHandler(w, hopts))
}

// Run starts the server and blocks until ctx ends.
//
// The order is chosen so that a start that fails leaves the data dir and
// etcd as they were: flag files are read and the port is bound before
// anything is created; checks that may refuse the start (a lost store,
// another replica's CA) run before anything is written; what this start
// added to the data dir (all of it, if the dir is new) is removed again
// if it fails before serving, unless etcd may already record its CA. The store is opened before the PKI
// is created, so that a first start that fails later is never mistaken
// for one whose store was lost.
func (o *serveOptions) Run(ctx context.Context, streams IOStreams) (err error) {
	log := o.logger(streams.ErrOut)
	policy := apiserver.DefaultPolicy()
	if o.policyFile != "" {
		if policy, err = apiserver.LoadPolicyFile(o.policyFile); err != nil {
			return fmt.Errorf("load --authorization-policy-file: %w", err)
		}
	}
	var tokens []apiserver.BootstrapToken
	if o.tokenFile != "" {
		if tokens, err = apiserver.LoadBootstrapTokenFile(o.tokenFile); err != nil {
			return fmt.Errorf("load --bootstrap-token-file: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(o.bindAddress, strconv.Itoa(o.securePort)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w; choose another --secure-port or --bind-address", o.bindAddress, o.securePort, err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	url := "https://" + net.JoinHostPort(o.clientHost(), strconv.Itoa(port))

	undo, err := prepareDataDir(o.dataDir)
	if err != nil {
		return err
	}
	// mayUndo is set once this start holds the data dir (its lock or the
	// bbolt file's), and cleared once it serves or etcd records its CA.
	mayUndo := false
	if len(o.etcdServers) > 0 {
		release, err := lockDataDir(o.dataDir)
		if err != nil {
			return err
		}
		defer release()
		mayUndo = true
	}
	// Runs after the store is closed and before the lock is released.
	defer func() {
		if err != nil && mayUndo && undo != nil {
			if uerr := undo(); uerr != nil {
				log.Warn("remove what the failed start wrote to the new data dir", "dir", o.dataDir, "error", uerr.Error())
			}
		}
	}()
	if err := o.checkStoreNotLost(log); err != nil {
		return err
	}
	store, err := o.openStore(ctx)
	if err != nil {
		return err
	}
	mayUndo = true
	defer func() {
		if cerr := store.Close(); cerr != nil {
			log.Error("close the store", "error", cerr.Error())
		}
	}()
	var join *etcdJoin
	if es, ok := store.(*etcd.Store); ok {
		if join, err = o.checkEtcdStore(ctx, es); err != nil {
			return err
		}
	}
	if bs, ok := store.(*bolt.Store); ok {
		if took, converted := bs.Converted(); converted {
			log.Info("converted the store to the current format", "path", filepath.Join(o.dataDir, serveStoreFile), "took", took.String())
		}
		if err := o.markStore(); err != nil {
			return err
		}
	}

	adminConf := filepath.Join(o.dataDir, serveAdminConf)
	// Before ensurePKI, which may rewrite admin.conf with mode 0600: the
	// warning is about how the files were found.
	o.warnOpenKeys(log, streams.ErrOut, adminConf)
	if o.initPKI {
		created, err := o.ensurePKI(ctx, port, url, adminConf)
		if err != nil {
			return err
		}
		if created {
			log.Info("created the cluster PKI", "dir", filepath.Join(o.dataDir, servePKIDir), "kubeconfig", adminConf)
		}
	}
	serving, err := tls.LoadX509KeyPair(o.tlsCertFile, o.tlsKeyFile)
	if err != nil {
		return fmt.Errorf("load serving certificate %s and key %s: %w; check --tls-cert-file and --tls-private-key-file",
			o.tlsCertFile, o.tlsKeyFile, err)
	}
	roots, err := pki.ReadCertificatesFile(o.clientCAFile)
	if err != nil {
		return fmt.Errorf("read client CA %s: %w; check --client-ca-file", o.clientCAFile, err)
	}
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	signingCA, err := pki.LoadCA(o.signingCertFile, o.signingKeyFile)
	if err != nil {
		return fmt.Errorf("load the signing CA: %w; check --cluster-signing-cert-file and --cluster-signing-key-file", err)
	}
	if join != nil {
		recorded, err := o.joinEtcdStore(ctx, join, fingerprintCAs(signingCA.Cert, roots), log)
		if recorded {
			// etcd may name this replica's CA now: its files must stay.
			mayUndo = false
		}
		if err != nil {
			return err
		}
	}

	authn := apiserver.NewX509Authenticator(pool, time.Now)
	if o.tokenFile != "" {
		authn = apiserver.NewUnionAuthenticator(authn, apiserver.NewBootstrapTokenAuthenticator(tokens, time.Now))
	}
	reg := prometheus.NewRegistry()
	authz := apiserver.NewRBACAuthorizer(policy)
	srv, err := apiserver.New(apiserver.Config{
		Store:           store,
		Authenticator:   authn,
		Authorizer:      authz,
		Policy:          policy,
		Logger:          log,
		Registry:        reg,
		ExternalAddress: net.JoinHostPort(o.clientHost(), strconv.Itoa(port)),
		// Config reads 0 as the default and a negative value as none.
		MaxPendingPerUser: cmp.Or(o.maxPendingCSRs, -1),
	})
	if err != nil {
		return err
	}
	elector, err := o.elector(store, port, log)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	tuneServeGC(runCtx)
	if len(o.etcdServers) == 0 {
		defer tuneServeProcs()() // bbolt fsyncs in this process
	}
	defer cancel()
	serverDone := make(chan error, 1)
	go func() { serverDone <- srv.Run(runCtx, ln, apiserver.TLSConfig(serving)) }()
	controllerErr := make(chan error, 1)
	stopControllers, err := startControllers(runCtx, controllerSetup{
		server: srv, ca: signingCA, duration: o.signingDuration, log: log, registry: reg, elector: elector, authz: authz,
		onSynced: afterInitialList(runCtx, store, log),
	}, controllerErr)
	if err != nil {
		cancel()
		<-serverDone
		return err
	}
	mayUndo = false
	log.Info("serving", "url", url, "store", o.storeName())
	if o.initPKI {
		fmt.Fprintf(streams.Out, "export KUBECONFIG=%s\nkubectl get csr\n", adminConf)
	} else {
		fmt.Fprintf(streams.Out, "serving on %s\n", url)
	}
	var runErr error
	select {
	case runErr = <-serverDone:
		cancel()
		stopControllers()
	case runErr = <-controllerErr:
		cancel()
		stopControllers()
		if serr := <-serverDone; runErr == nil {
			runErr = serr
		}
	case <-ctx.Done():
		log.Info("stopping: draining requests and closing watches")
		cancel()
		stopControllers()
		runErr = <-serverDone
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	log.Info("stopped")
	return nil
}

// prepareDataDir creates the data dir dir (mode 0700) when it is missing,
// and returns a function that removes what was added to it since: the
// dir itself if this call created it, else the entries it did not hold
// (a store, a PKI, admin.conf, the lock file), so that a start that
// fails before serving leaves the data dir as it found it. The caller
// runs it only while it holds the data dir (its lock, or the bbolt
// file's), so that it never removes another serve's files.
func prepareDataDir(dir string) (undo func() error, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, pki.ModeKeyDir); err != nil {
			return nil, fmt.Errorf("create data dir %s: %w", dir, err)
		}
		return func() error { return os.RemoveAll(dir) }, nil
	case err != nil:
		return nil, fmt.Errorf("read data dir %s: %w", dir, err)
	}
	had := make(map[string]bool, len(entries))
	for _, e := range entries {
		had[e.Name()] = true
	}
	return func() error {
		now, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		var errs []error
		for _, e := range now {
			if !had[e.Name()] {
				errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
			}
		}
		return errors.Join(errs...)
	}, nil
}

// warnOpenKeys warns, in the log and in a line on errOut, about each
// private key and credential that group or others may read or write:
// the serving key (--tls-private-key-file), the etcd client key, every
// *.key under DIR/pki and adminConf, a cluster-admin credential. It
// skips the signing CA's key, which [pki.LoadCA] refuses to use when it
// is open, and files that do not exist. serve goes on: unlike the CA
// key, a leaked serving key or admin.conf does not let anyone sign.
func (o *serveOptions) warnOpenKeys(log *slog.Logger, errOut io.Writer, adminConf string) {
	paths := []string{o.tlsKeyFile, o.etcdKeyFile}
	pkiDir := filepath.Join(o.dataDir, servePKIDir)
	_ = filepath.WalkDir(pkiDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".key") {
			paths = append(paths, path)
		}
		return nil // an unreadable folder is reported by what reads it
	})
	paths = append(paths, adminConf)
	skip := filepath.Clean(o.signingKeyFile)
	seen := map[string]bool{skip: true}
	for _, p := range paths {
		if p == "" || seen[filepath.Clean(p)] {
			continue
		}
		seen[filepath.Clean(p)] = true
		fi, err := os.Stat(p)
		if err != nil || !pki.OpenToOthers(fi.Mode()) {
			continue
		}
		what, access := "private key", "readable"
		if p == adminConf {
			what = "cluster-admin kubeconfig"
		}
		if fi.Mode().Perm()&0o044 == 0 {
			access = "writable"
		}
		fix := "chmod 600 " + p
		log.Warn("a "+what+" is "+access+" by group or others", "path", p, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "fix", fix)
		fmt.Fprintf(errOut, "warning: %s %s has mode %04o, %s by group or others; run %q\n", what, p, fi.Mode().Perm(), access, fix)
	}
}

// clientHost is the host clients use to reach the listener.
func (o *serveOptions) clientHost() string {
	ip := net.ParseIP(o.bindAddress)
	if ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return ip.String()
}

// ensurePKI creates the cluster PKI and admin.conf on the first start and
// points admin.conf at url on every start (the port may change with
// --secure-port 0). It reports whether it created the PKI.
func (o *serveOptions) ensurePKI(ctx context.Context, port int, url, adminConf string) (bool, error) {
	pkiDir := filepath.Join(o.dataDir, servePKIDir)
	_, caErr := os.Stat(filepath.Join(pkiDir, "ca.crt"))
	if caErr != nil && !errors.Is(caErr, os.ErrNotExist) {
		return false, fmt.Errorf("check the PKI in %s: %w", pkiDir, caErr)
	}
	_, confErr := os.Stat(adminConf)
	if confErr != nil && !errors.Is(confErr, os.ErrNotExist) {
		return false, fmt.Errorf("check %s: %w", adminConf, confErr)
	}
	created := errors.Is(caErr, os.ErrNotExist)
	// A fresh data dir gets the whole PKI; a replica's data dir holding a
	// copy of another replica's pki/ gets its own admin.conf signed by the
	// same CA, with every existing file verified and kept.
	if created || errors.Is(confErr, os.ErrNotExist) {
		opts := cluster.DefaultOptions()
		opts.CertDir = pkiDir
		opts.KubeconfigDir = o.dataDir
		opts.BindPort = port
		opts.AdvertiseAddress = o.clientHost()
		sans := []string{"127.0.0.1", "localhost"}
		if ip := net.ParseIP(o.bindAddress); ip != nil && !ip.IsUnspecified() {
			sans = append(sans, ip.String())
		} else {
			// Listening everywhere: the machine's addresses are names of it too.
			sans = append(sans, machineAddresses()...)
		}
		opts.APIServerCertSANs = sans
		if _, err := cluster.Init(ctx, opts); err != nil {
			return false, fmt.Errorf("create the cluster PKI in %s: %w", pkiDir, err)
		}
	}
	cfg, err := kubeconfig.Read(adminConf)
	if err != nil {
		return false, fmt.Errorf("read %s: %w; remove %s to have it recreated", adminConf, err, pkiDir)
	}
	changed := false
	for _, c := range cfg.Clusters {
		if c.Server != url {
			c.Server, changed = url, true
		}
	}
	if changed {
		if err := kubeconfig.Write(adminConf, cfg); err != nil {
			return false, fmt.Errorf("point %s at %s: %w", adminConf, url, err)
		}
	}
	return created, nil
}

// machineAddresses returns the global unicast addresses of this machine.
func machineAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() && !slices.Contains(out, ipn.IP.String()) {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

func (o *serveOptions) storeName() string {
	if len(o.etcdServers) > 0 {
		return "etcd " + strings.Join(o.etcdServers, ",")
	}
	return "bbolt " + filepath.Join(o.dataDir, serveStoreFile)
}

// elector returns the etcd leader election of the controllers when the
// store is etcd and --leader-elect is on, and nil (always lead) otherwise:
// a bbolt file has one server by construction.
func (o *serveOptions) elector(store storage.Interface, port int, log *slog.Logger) (controller.Elector, error) {
	es, ok := store.(*etcd.Store)
	if !ok || !o.leaderElect {
		return nil, nil
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	e, err := controller.NewEtcdElector(controller.EtcdElectorConfig{
		Client:   es.Client(),
		Prefix:   electionPrefix(es.Prefix()),
		Identity: fmt.Sprintf("%s_%d_%d", host, os.Getpid(), port),
		LeaseTTL: o.leaseDuration,
		Logger:   log.With("component", "leader-election"),
	})
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	return e, nil
}

// electionPrefix is the etcd key prefix of the controllers' leader
// election for the store under storePrefix. Each store has its own
// election, as each Kubernetes cluster's kube-controller-manager has its
// own lease: two kubepki clusters that share one etcd under different
// --etcd-prefix values must not share one leader, or only one of them
// would ever sign. The default prefix keeps the election key of earlier
// versions.
func electionPrefix(storePrefix string) string {
	if storePrefix == strings.TrimSuffix(etcd.DefaultPrefix, "/") {
		return controller.DefaultElectionPrefix
	}
	return storePrefix + serveElectionKey
}

// checkStoreNotLost refuses to start when the bbolt store is missing, or
// an empty file, in a data dir that shows it had one: the marker serve writes next to
// the store it creates, or the admin.conf serve writes on its first start
// (which also covers data dirs from before the marker). bolt.Open would
// otherwise create an empty store in its place, losing every CSR and
// starting resourceVersions again from 1 (security.md §2, items 9 and 10).
// With --allow-new-store it logs a warning and lets the start go on. It
// does nothing with --etcd-servers.
func (o *serveOptions) checkStoreNotLost(log *slog.Logger) error {
	if len(o.etcdServers) > 0 {
		return nil
	}
	path := filepath.Join(o.dataDir, serveStoreFile)
	fi, err := os.Lstat(path)
	// An empty file is no store either: bbolt would make it a new one,
	// while a store bbolt created is never empty (it writes and syncs its
	// first pages before serve marks it), so a truncated store, or one
	// whose pages a crash of the file system lost, is as lost as a
	// deleted one.
	empty := err == nil && fi.Mode().IsRegular() && fi.Size() == 0
	if err == nil && !empty {
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("check the store %s: %w", path, err)
	}
	var evidence string
	for _, name := range []string{serveStoreMarker, serveAdminConf} {
		p := filepath.Join(o.dataDir, name)
		_, err := os.Lstat(p)
		if err == nil {
			evidence = p
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	if evidence == "" {
		return nil // a new data dir: its first start creates the store
	}
	if o.allowNewStore {
		log.Warn("the store is missing: starting with a new, empty store as --allow-new-store asks; earlier CSRs are lost and resourceVersions start again from 1",
			"path", path, "evidence", evidence, "emptyFile", empty)
		return nil
	}
	return &storeLostError{Path: path, Evidence: evidence, Empty: empty}
}

// storeLostError is returned by [serveOptions.checkStoreNotLost] when the
// store at Path is missing, or an empty file, although the file Evidence
// shows it existed.
type storeLostError struct {
	Path, Evidence string
	// Empty is set when Path exists but is an empty file.
	Empty bool
}

func (e *storeLostError) Error() string {
	what := "is missing"
	if e.Empty {
		what = "is an empty file"
	}
	return fmt.Sprintf("the store %s %s, but %s shows that this data dir had one: "+
		"starting with a new, empty store would lose every CertificateSigningRequest and start resourceVersions again from 1, "+
		"which breaks the watches and caches of clients; restore %s from a backup, "+
		"or pass --allow-new-store to start with an empty store on purpose", e.Path, what, e.Evidence, e.Path)
}

// etcdRecord is what the replicas of one etcd store share besides the
// CSRs, under --etcd-prefix: the store's ID and the fingerprints of the
// CAs they sign with and trust, each with the key's mod revision (0 while
// the key is absent).
type etcdRecord struct {
	storeID, signingCA, clientCA          string
	storeIDRev, signingCARev, clientCARev int64
}

// holdsStore reports whether any replica has used the store.
func (r etcdRecord) holdsStore() bool {
	return r.storeIDRev != 0 || r.signingCARev != 0 || r.clientCARev != 0
}

// readEtcdRecord reads the record with linearizable reads.
func readEtcdRecord(ctx context.Context, store storage.Interface) (etcdRecord, error) {
	var r etcdRecord
	for _, f := range []struct {
		key string
		val *string
		rev *int64
	}{
		{etcdStoreIDKey, &r.storeID, &r.storeIDRev},
		{etcdSigningCAKey, &r.signingCA, &r.signingCARev},
		{etcdClientCAKey, &r.clientCA, &r.clientCARev},
	} {
		kv, err := store.Get(ctx, f.key)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return etcdRecord{}, err
		}
		v := strings.TrimSpace(string(kv.Value))
		if v == "" {
			return etcdRecord{}, fmt.Errorf("the key %s is empty", f.key)
		}
		*f.val, *f.rev = v, kv.Revision
	}
	return r, nil
}

// caFingerprints are the SHA-256 fingerprints, in hex as kubepki inspect
// prints them, of the DER of the signing CA certificate and of each
// client CA certificate (sorted, comma-separated, so that the order of a
// bundle does not matter).
type caFingerprints struct {
	signing, client string
}

// fingerprintCAs returns the fingerprints of signing and clients.
func fingerprintCAs(signing *x509.Certificate, clients []*x509.Certificate) caFingerprints {
	sum := func(c *x509.Certificate) string {
		h := sha256.Sum256(c.Raw)
		return hex.EncodeToString(h[:])
	}
	var cs []string
	for _, c := range clients {
		cs = append(cs, sum(c))
	}
	slices.Sort(cs)
	return caFingerprints{signing: sum(signing), client: strings.Join(slices.Compact(cs), ",")}
}

// readCAFingerprints is fingerprintCAs of the certificate files of the
// flags.
func (o *serveOptions) readCAFingerprints() (caFingerprints, error) {
	signing, err := pki.ReadCertificateFile(o.signingCertFile)
	if err != nil {
		return caFingerprints{}, fmt.Errorf("read the signing CA: %w; check --cluster-signing-cert-file", err)
	}
	clients, err := pki.ReadCertificatesFile(o.clientCAFile)
	if err != nil {
		return caFingerprints{}, fmt.Errorf("read client CA %s: %w; check --client-ca-file", o.clientCAFile, err)
	}
	return fingerprintCAs(signing, clients), nil
}

// etcdJoin is what [serveOptions.checkEtcdStore] found, for
// [serveOptions.joinEtcdStore].
type etcdJoin struct {
	store *etcd.Store
	// localFile is DIR/etcd-store-id and localID the ID in it, if any.
	localFile, localID string
	record             etcdRecord
}

// checkEtcdStore is checkStoreNotLost for etcd, which serve can only ask
// once connected, and it checks that this replica shares the CAs of the
// store's other replicas. It writes nothing, to etcd or to the data dir:
// [serveOptions.joinEtcdStore] does, once the start is sure to go on.
//
// The store's ID is a random value kept in etcd under etcdStoreIDKey and,
// once a server has used the store, in its data dir. serve refuses to
// start when its data dir names a store that etcd does not hold: etcd
// lost its data (or was restored from before the store was made) or
// --etcd-servers and --etcd-prefix point at another cluster's, and either
// way resourceVersions would go back under clients that cached higher
// ones (security.md §2, items 9 and 10). A new data dir adopts the ID
// etcd holds, as a second replica does. With --allow-new-store it logs a
// warning (in joinEtcdStore), and the data dir adopts etcd's store.
//
// Every replica of a store must sign with the same CA and trust the same
// client CAs (docs/ha.md), or a replica with another CA would, once
// elected, sign certificates nobody trusts. The first replica records
// the fingerprints of its CAs next to the store's ID; serve refuses to
// start when its CAs are not the recorded ones, and refuses to create a
// new PKI in a data dir without one when etcd already holds a store,
// since that PKI's CA could only be another. --allow-new-ca lets both
// go on and records this replica's CAs instead (a CA rotation).
func (o *serveOptions) checkEtcdStore(ctx context.Context, store *etcd.Store) (*etcdJoin, error) {
	j := &etcdJoin{store: store, localFile: filepath.Join(o.dataDir, serveEtcdStoreID)}
	had, err := os.ReadFile(j.localFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", j.localFile, err)
	}
	j.localID = strings.TrimSpace(string(had))
	if j.record, err = readEtcdRecord(ctx, store); err != nil {
		return nil, fmt.Errorf("read the store's ID from etcd %s: %w", strings.Join(o.etcdServers, ","), err)
	}
	if err := o.checkStoreID(j, j.record); err != nil {
		return nil, err
	}
	pkiDir := filepath.Join(o.dataDir, servePKIDir)
	if o.initPKI {
		_, err := os.Stat(o.signingCertFile)
		if errors.Is(err, os.ErrNotExist) {
			if j.record.holdsStore() && !o.allowNewCA {
				return nil, &newPKIRefusedError{Servers: strings.Join(o.etcdServers, ","), Prefix: o.prefix(), PKIDir: pkiDir, StoreID: j.record.storeID}
			}
			return j, nil // the CAs are checked once ensurePKI made them
		}
		if err != nil {
			return nil, fmt.Errorf("check the PKI in %s: %w", pkiDir, err)
		}
	}
	fps, err := o.readCAFingerprints()
	if err != nil {
		return nil, err
	}
	if err := o.checkCAs(j.record, fps); err != nil {
		return nil, err
	}
	return j, nil
}

// checkStoreID refuses a data dir that used a store etcd, holding r,
// does not hold, unless --allow-new-store.
func (o *serveOptions) checkStoreID(j *etcdJoin, r etcdRecord) error {
	if j.localID == "" || o.allowNewStore {
		return nil
	}
	servers := strings.Join(o.etcdServers, ",")
	if r.storeID == "" {
		return &etcdStoreLostError{Servers: servers, Prefix: o.etcdPrefix, File: j.localFile, Had: j.localID, New: true}
	}
	if j.localID != r.storeID {
		return &etcdStoreLostError{Servers: servers, Prefix: o.etcdPrefix, File: j.localFile, Had: j.localID, Found: r.storeID}
	}
	return nil
}

// checkCAs refuses CAs other than those recorded in r, unless
// --allow-new-ca. A store recorded before CAs were (an older kubepki)
// accepts any: this replica records its own.
func (o *serveOptions) checkCAs(r etcdRecord, fps caFingerprints) error {
	if o.allowNewCA {
		return nil
	}
	e := &caMismatchError{Servers: strings.Join(o.etcdServers, ","), Prefix: o.prefix(), PKIDir: filepath.Join(o.dataDir, servePKIDir)}
	if r.signingCA != "" && r.signingCA != fps.signing {
		e.Mismatches = append(e.Mismatches, caMismatch{What: "signing CA", Flag: "--cluster-signing-cert-file", File: o.signingCertFile, Recorded: r.signingCA, Own: fps.signing})
	}
	if r.clientCA != "" && r.clientCA != fps.client {
		e.Mismatches = append(e.Mismatches, caMismatch{What: "client CA", Flag: "--client-ca-file", File: o.clientCAFile, Recorded: r.clientCA, Own: fps.client})
	}
	if len(e.Mismatches) > 0 {
		return e
	}
	return nil
}

// joinEtcdStore records, once the start is sure to go on, what
// checkEtcdStore checked: the store's ID and the fingerprints fps of
// this replica's CAs in etcd, where they are missing (or differ, with
// --allow-new-ca), in one transaction guarded by the revisions read, and
// the store's ID in the data dir. Replicas that start at once on a new
// etcd agree: one transaction succeeds, and the others read its record
// and check their CAs against it again. It reports whether etcd may have
// recorded fps (a write that succeeded or whose outcome is unknown), even
// when it returns an error.
func (o *serveOptions) joinEtcdStore(ctx context.Context, j *etcdJoin, fps caFingerprints, log *slog.Logger) (recorded bool, err error) {
	servers := strings.Join(o.etcdServers, ",")
	r := j.record
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if r, err = readEtcdRecord(ctx, j.store); err != nil {
				return recorded, fmt.Errorf("read the store's ID from etcd %s: %w", servers, err)
			}
		}
		if err := o.checkStoreID(j, r); err != nil {
			return recorded, err
		}
		if err := o.checkCAs(r, fps); err != nil {
			return recorded, err
		}
		puts := map[string][]byte{}
		if r.storeID == "" {
			b := make([]byte, 16)
			if _, err := rand.Read(b); err != nil {
				return recorded, err
			}
			puts[etcdStoreIDKey] = []byte(hex.EncodeToString(b))
		}
		if r.signingCA != fps.signing {
			puts[etcdSigningCAKey] = []byte(fps.signing)
		}
		if r.clientCA != fps.client {
			puts[etcdClientCAKey] = []byte(fps.client)
		}
		if len(puts) == 0 {
			break
		}
		if attempt == 3 {
			return recorded, fmt.Errorf("record the store in etcd %s: the keys under %s/kubepki.io keep changing", servers, o.prefix())
		}
		ok, err := j.store.PutIfRevisions(ctx, map[string]int64{
			etcdStoreIDKey: r.storeIDRev, etcdSigningCAKey: r.signingCARev, etcdClientCAKey: r.clientCARev,
		}, puts)
		if err != nil {
			// A timed-out write may have been applied.
			return true, fmt.Errorf("record the store in etcd %s: %w", servers, err)
		}
		if !ok {
			continue // another replica wrote first: check against its record
		}
		recorded = true
		_, signing := puts[etcdSigningCAKey]
		_, client := puts[etcdClientCAKey]
		if (signing && r.signingCA != "") || (client && r.clientCA != "") {
			log.Warn("recorded this replica's CAs in etcd in place of the store's, as --allow-new-ca asks; replicas with the old CAs will refuse to start",
				"signingCA", fps.signing, "recordedSigningCA", r.signingCA, "clientCA", fps.client, "recordedClientCA", r.clientCA)
		}
		if id, ok := puts[etcdStoreIDKey]; ok {
			r.storeID = string(id)
		}
		break
	}
	if j.localID == r.storeID {
		return recorded, nil
	}
	if j.localID != "" {
		log.Warn("etcd does not hold the store this data dir used: going on with etcd's as --allow-new-store asks; clients that cached resourceVersions of the old store must list again",
			"had", j.localID, "etcdStoreID", r.storeID, "file", j.localFile)
	}
	if err := pki.WriteFile(j.localFile, []byte(r.storeID+"\n"), serveStoreMarkerMode); err != nil {
		return recorded, fmt.Errorf("record the etcd store's ID: %w", err)
	}
	return recorded, nil
}

// prefix is --etcd-prefix as etcd uses it.
func (o *serveOptions) prefix() string {
	if o.etcdPrefix == "" {
		return strings.TrimSuffix(etcd.DefaultPrefix, "/")
	}
	return strings.TrimSuffix(o.etcdPrefix, "/")
}

// caMismatch is one CA of this replica that differs from the recorded one.
type caMismatch struct {
	// What is "signing CA" or "client CA", Flag the flag naming File,
	// the certificate file of this replica.
	What, Flag, File string
	// Recorded and Own are the fingerprints in etcd and of File.
	Recorded, Own string
}

// caMismatchError is returned by [serveOptions.checkEtcdStore] when this
// replica's CAs are not those the store's replicas recorded in etcd.
type caMismatchError struct {
	Servers, Prefix, PKIDir string
	Mismatches              []caMismatch
}

func (e *caMismatchError) Error() string {
	var b strings.Builder
	for i, m := range e.Mismatches {
		if i > 0 {
			b.WriteString(", and ")
		}
		fmt.Fprintf(&b, "the %s %s (%s) has SHA-256 %s, but the store's replicas recorded %s", m.What, m.File, m.Flag, m.Own, m.Recorded)
	}
	return fmt.Sprintf("%s in etcd %s under prefix %s: this replica would sign certificates, or trust clients, that the other replicas do not; "+
		"copy %s from an existing replica (ca.crt and ca.key at least; docs/ha.md) or point the flags at the store's CA, "+
		"or, to rotate the CA on purpose, stop every replica and start the first with the new CA and --allow-new-ca",
		b.String(), e.Servers, e.Prefix, e.PKIDir)
}

// newPKIRefusedError is returned by [serveOptions.checkEtcdStore] when
// the data dir has no PKI for serve to use but etcd already holds a store,
// whose replicas have a CA that a new PKI would not share.
type newPKIRefusedError struct {
	Servers, Prefix, PKIDir, StoreID string
}

func (e *newPKIRefusedError) Error() string {
	store := "a kubepki store"
	if e.StoreID != "" {
		store = "the kubepki store " + e.StoreID
	}
	return fmt.Sprintf("etcd %s under prefix %s already holds %s, but %s has no ca.crt: a new PKI here would sign with a CA of its own, "+
		"which the store's other replicas and their clients do not trust; "+
		"copy pki/ from an existing replica's data dir into %s (ca.crt and ca.key at least; docs/ha.md) and start again, "+
		"or pass --allow-new-ca to give the store a new CA on purpose",
		e.Servers, e.Prefix, store, e.PKIDir, e.PKIDir)
}

// etcdStoreLostError is returned by [serveOptions.checkEtcdStore] when
// etcd does not hold the store the data dir's File says it used.
type etcdStoreLostError struct {
	Servers, Prefix, File string
	// Had is the ID in File, Found the one etcd holds; New is set when
	// etcd holds none (Found is then empty).
	Had, Found string
	New        bool
}

func (e *etcdStoreLostError) Error() string {
	prefix := e.Prefix
	if prefix == "" {
		prefix = etcd.DefaultPrefix
	}
	what := fmt.Sprintf("holds another store (%s)", e.Found)
	if e.New {
		what = "holds no kubepki store"
	}
	return fmt.Sprintf("etcd %s under prefix %s %s, but %s shows that this server used store %s there: "+
		"etcd lost its data, was restored from before that store existed, or --etcd-servers and --etcd-prefix point at another cluster; "+
		"going on would start resourceVersions again under clients that cached higher ones; "+
		"restore etcd from a backup, check --etcd-servers and --etcd-prefix, "+
		"or pass --allow-new-store to go on with etcd's store on purpose", e.Servers, prefix, what, e.File, e.Had)
}

// dataDirBusyError is returned by lockDataDir when another serve holds
// the lock file Lock of the data dir Dir.
type dataDirBusyError struct {
	Dir, Lock string
	PID       int // the holder, when it wrote its ID; else 0
}

func (e *dataDirBusyError) Error() string {
	pid := ""
	if e.PID > 0 {
		pid = fmt.Sprintf(", pid %d", e.PID)
	}
	return fmt.Sprintf("another kubepki serve is using the data dir %s (it holds %s%s): "+
		"stop it, or give each replica its own --data-dir (docs/ha.md)", e.Dir, e.Lock, pid)
}

// lockDataDir takes the data dir's lock file, DIR/serveLockFile, so that a
// second serve on the same data dir fails at once instead of rewriting
// the first one's admin.conf and etcd-store-id. The bbolt store locks its
// own file; with etcd nothing else would. The lock goes with the process
// (or with release); it does nothing where there is no flock.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, serveLockFile)
	release, err = filelock.TryLock(path, serveStoreMarkerMode)
	var busy *filelock.BusyError
	if errors.As(err, &busy) {
		return nil, &dataDirBusyError{Dir: dir, Lock: path, PID: busy.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("lock the data dir: %w", err)
	}
	return release, nil
}

// markStore writes the marker of [serveOptions.checkStoreNotLost] next
// to the bbolt store, once.
func (o *serveOptions) markStore() error {
	p := filepath.Join(o.dataDir, serveStoreMarker)
	text := "kubepki serve keeps its store in " + serveStoreFile + " in this folder.\n" +
		"While this file exists, serve refuses to start without " + serveStoreFile + "\n" +
		"(restore it from a backup, or pass --allow-new-store to start empty on purpose).\n"
	err := pki.WriteFileNew(p, []byte(text), serveStoreMarkerMode)
	if err != nil && !errors.Is(err, pki.ErrExists) {
		return fmt.Errorf("mark the store: %w", err)
	}
	return nil
}

// openStore opens bbolt in the data dir, or etcd with --etcd-servers.
func (o *serveOptions) openStore(ctx context.Context) (storage.Interface, error) {
	if len(o.etcdServers) == 0 {
		path := filepath.Join(o.dataDir, serveStoreFile)
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			return nil, err // bolt's errors name the file and say what to do
		}
		return s, nil
	}
	var tlsConfig *tls.Config
	if o.etcdCAFile != "" || o.etcdCertFile != "" {
		var err error
		if tlsConfig, err = etcd.TLSConfig(o.etcdCAFile, o.etcdCertFile, o.etcdKeyFile); err != nil {
			return nil, err
		}
	}
	s, err := etcd.New(ctx, etcd.Config{Endpoints: o.etcdServers, TLS: tlsConfig, Prefix: o.etcdPrefix})
	if err != nil {
		// etcd.New names the endpoints and, when it can, the TLS cause.
		return nil, fmt.Errorf("%w; check --etcd-servers and the etcd TLS flags", err)
	}
	return s, nil
}
