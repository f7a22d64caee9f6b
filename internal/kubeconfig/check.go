package kubeconfig

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepki/kubepki/internal/pki"
)

// Status is the outcome of one check.
type Status string

// Check outcomes. Only StatusFail makes a report fail.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Names of the checks, stable for -o json|yaml.
const (
	CheckEntries   = "entries"
	CheckCA        = "cluster-ca"
	CheckFiles     = "credentials"
	CheckKey       = "key-matches"
	CheckChain     = "chain"
	CheckExpiry    = "expiry"
	CheckServerSAN = "server-san"
	CheckConnect   = "connect"
)

// DefaultExpiryWarning is how close to its end a certificate's validity
// produces a warning.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// CheckOptions configure [Check]. The zero value checks every context
// offline with the current time.
type CheckOptions struct {
	// Context limits the check to one context; empty checks all.
	Context string
	// Connect adds a TLS handshake with the server (its certificate must
	// chain to the cluster CA and name the server's host) and a GET
	// /version with the context's credentials.
	Connect bool
	// Timeout bounds each connection; zero means 10s.
	Timeout time.Duration
	// ExpiryWarning is the remaining validity below which expiry warns;
	// zero means DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is the outcome of one check of one context.
type Result struct {
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// ContextReport holds every check of one context.
type ContextReport struct {
	Context string     `json:"context"`
	Cluster string     `json:"cluster,omitempty"`
	User    string     `json:"user,omitempty"`
	Server  string     `json:"server,omitempty"`
	Subject string     `json:"subject,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Results []Result   `json:"results"`
}

// Failed reports whether any check of r failed.
func (r *ContextReport) Failed() bool {
	for _, res := range r.Results {
		if res.Status == StatusFail {
			return true
		}
	}
	return false
}

func (r *ContextReport) add(check string, st Status, format string, args ...any) {
	r.Results = append(r.Results, Result{Check: check, Status: st, Message: fmt.Sprintf(format, args...)})
}

// ErrNoContext is returned by [Check] when the named context does not
// exist or the configuration has none.
var ErrNoContext = errors.New("no such context")

// Check verifies the contexts of cfg, whose file paths must already be
// resolved (as [LoadingRules] loads them): for each, that its cluster and
// user exist, that the CA and credential files exist and parse, that the
// key matches the certificate, that the certificate chains to the
// cluster's CA for client authentication, and how long it stays valid.
// With opts.Connect it also talks to the server (see [CheckOptions]).
// Contexts are reported sorted by name. Users that authenticate otherwise
// than by certificate get the certificate checks skipped.
func Check(ctx context.Context, cfg *clientcmdapi.Config, opts CheckOptions) ([]ContextReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = DefaultExpiryWarning
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	var names []string
	if opts.Context != "" {
		if _, ok := cfg.Contexts[opts.Context]; !ok {
			return nil, fmt.Errorf("context %q: %w", opts.Context, ErrNoContext)
		}
		names = []string{opts.Context}
	} else {
		for name := range cfg.Contexts {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the kubeconfig defines no contexts: %w", ErrNoContext)
	}
	reports := make([]ContextReport, 0, len(names))
	for _, name := range names {
		reports = append(reports, checkContext(ctx, cfg, name, opts))
	}
	return reports, nil
}

func checkContext(ctx context.Context, cfg *clientcmdapi.Config, name string, opts CheckOptions) ContextReport {
	kctx := cfg.Contexts[name]
	r := ContextReport{Context: name, Cluster: kctx.Cluster, User: kctx.AuthInfo}
	cluster, hasCluster := cfg.Clusters[kctx.Cluster]
	user, hasUser := cfg.AuthInfos[kctx.AuthInfo]
	switch {
	case !hasCluster && !hasUser:
		r.add(CheckEntries, StatusFail, "cluster %q and user %q are not defined", kctx.Cluster, kctx.AuthInfo)
		return r
	case !hasCluster:
		r.add(CheckEntries, StatusFail, "cluster %q is not defined", kctx.Cluster)
		return r
	case !hasUser:
		r.add(CheckEntries, StatusFail, "user %q is not defined", kctx.AuthInfo)
		return r
	}
	r.Server = cluster.Server
	if cluster.Server == "" {
		r.add(CheckEntries, StatusFail, "cluster %q has no server", kctx.Cluster)
	} else {
		r.add(CheckEntries, StatusOK, "cluster and user are defined")
	}

	roots := checkCA(&r, kctx.Cluster, cluster)
	cert, intermediates, key := checkCredentials(&r, kctx.AuthInfo, user)
	if cert != nil {
		r.Subject = subjectString(cert)
		na := cert.NotAfter.UTC()
		r.Expires = &na
		if key != nil {
			if err := pki.KeyMatchesCertificate(key, cert); err != nil {
				r.add(CheckKey, StatusFail, "the client key does not match the client certificate; restore the matching key or issue a new certificate")
			} else {
				r.add(CheckKey, StatusOK, "the client key matches the certificate")
			}
		}
		switch {
		case roots == nil:
			r.add(CheckChain, StatusSkip, "no cluster CA to verify against")
		default:
			if err := pki.VerifyChain(cert, roots, intermediates, x509.ExtKeyUsageClientAuth, opts.Now()); err != nil {
				r.add(CheckChain, StatusFail, "the client certificate does not chain to the cluster CA for client auth: %v", err)
			} else {
				r.add(CheckChain, StatusOK, "the client certificate chains to the cluster CA")
			}
		}
		left := cert.NotAfter.Sub(opts.Now())
		switch {
		case left <= 0:
			r.add(CheckExpiry, StatusFail, "the client certificate expired at %s; issue a new one", na.Format(time.RFC3339))
		case cert.NotBefore.After(opts.Now()):
			r.add(CheckExpiry, StatusFail, "the client certificate is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
		case left < opts.ExpiryWarning:
			r.add(CheckExpiry, StatusWarn, "the client certificate expires at %s, in %s; renew it", na.Format(time.RFC3339), left.Round(time.Minute))
		default:
			r.add(CheckExpiry, StatusOK, "the client certificate is valid until %s", na.Format(time.RFC3339))
		}
	}
	if !opts.Connect {
		r.add(CheckServerSAN, StatusSkip, "not checked; pass --connect to check the server certificate")
		return r
	}
	if cluster.Server == "" {
		return r
	}
	checkServer(ctx, &r, cfg, name, cluster, roots, opts)
	return r
}

// checkCA reports on the cluster's CA and returns its certificates (nil if
// there is none or it is unusable). A cluster with both a CA file and CA
// data fails, as client-go's validation refuses it.
func checkCA(r *ContextReport, name string, cluster *clientcmdapi.Cluster) []*x509.Certificate {
	if cluster.CertificateAuthority != "" && len(cluster.CertificateAuthorityData) > 0 {
		r.add(CheckCA, StatusFail, "kubectl refuses this context: certificate-authority-data and certificate-authority are both specified for %s; keep one: delete the certificate-authority line to keep the data, or embed the file instead with kubepki config set-cluster %s --certificate-authority %s --embed-certs", name, name, cluster.CertificateAuthority)
		return nil
	}
	data := cluster.CertificateAuthorityData
	src := "certificate-authority-data"
	if len(data) == 0 && cluster.CertificateAuthority != "" {
		src = cluster.CertificateAuthority
		b, err := pki.ReadFile(cluster.CertificateAuthority)
		if err != nil {
			r.add(CheckCA, StatusFail, "read certificate-authority %s: %v", cluster.CertificateAuthority, err)
			return nil
		}
		data = b
	}
	if len(data) == 0 {
		if cluster.InsecureSkipTLSVerify {
			r.add(CheckCA, StatusWarn, "insecure-skip-tls-verify is set: the server is not authenticated")
		} else {
			r.add(CheckCA, StatusWarn, "no certificate-authority: the system roots are trusted")
		}
		return nil
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		r.add(CheckCA, StatusFail, "parse %s: %v", src, err)
		return nil
	}
	r.add(CheckCA, StatusOK, "%d CA certificate(s) from %s", len(certs), src)
	return certs
}

// checkCredentials reports on the user's certificate and key files and
// returns what parsed. A user with both a file and data for its
// certificate or its key fails, as client-go's validation refuses it.
func checkCredentials(r *ContextReport, name string, user *clientcmdapi.AuthInfo) (*x509.Certificate, []*x509.Certificate, crypto.Signer) {
	hasCert := len(user.ClientCertificateData) > 0 || user.ClientCertificate != ""
	hasKey := len(user.ClientKeyData) > 0 || user.ClientKey != ""
	if !hasCert && !hasKey {
		r.add(CheckFiles, StatusSkip, "the user does not authenticate with a client certificate")
		return nil, nil, nil
	}
	// client-go's validateAuthInfo, which kubectl runs before it uses a
	// context (tools/clientcmd/validation.go).
	both := false
	if user.ClientCertificate != "" && len(user.ClientCertificateData) > 0 {
		r.add(CheckFiles, StatusFail, "kubectl refuses this context: client-cert-data and client-cert are both specified for %s; keep one: delete the client-certificate line to keep the data, or embed the file instead with kubepki config set-credentials %s --client-certificate %s --embed-certs", name, name, user.ClientCertificate)
		both = true
	}
	if user.ClientKey != "" && len(user.ClientKeyData) > 0 {
		r.add(CheckFiles, StatusFail, "kubectl refuses this context: client-key-data and client-key are both specified for %s; keep one: delete the client-key line to keep the data, or embed the file instead with kubepki config set-credentials %s --client-key %s --embed-certs", name, name, user.ClientKey)
		both = true
	}
	if both {
		return nil, nil, nil
	}
	load := func(data []byte, path, what string) []byte {
		if len(data) > 0 {
			return data
		}
		if path == "" {
			r.add(CheckFiles, StatusFail, "no %s given", what)
			return nil
		}
		b, err := pki.ReadFile(path)
		if err != nil {
			r.add(CheckFiles, StatusFail, "read %s %s: %v", what, path, err)
			return nil
		}
		return b
	}
	certPEM := load(user.ClientCertificateData, user.ClientCertificate, "client-certificate")
	keyPEM := load(user.ClientKeyData, user.ClientKey, "client-key")
	if len(user.ClientKeyData) == 0 {
		// Read from a file here: this copy is ours to wipe.
		defer clear(keyPEM)
	}
	var certs []*x509.Certificate
	var key crypto.Signer
	var err error
	ok := certPEM != nil && keyPEM != nil
	if certPEM != nil {
		if certs, err = pki.ParseCertificatesPEM(certPEM); err != nil {
			r.add(CheckFiles, StatusFail, "parse client certificate: %v", err)
			ok = false
		}
	}
	if keyPEM != nil {
		if key, err = pki.ParsePrivateKeyPEM(keyPEM); err != nil {
			r.add(CheckFiles, StatusFail, "parse client key: %v", err)
			ok = false
		}
	}
	if ok {
		r.add(CheckFiles, StatusOK, "client certificate and key are present and parse")
	}
	if len(certs) == 0 {
		return nil, nil, key
	}
	return certs[0], certs[1:], key
}

// checkServer does a TLS handshake with the server, checks its certificate
// against the cluster CA and the server's host, and GETs /version with the
// context's credentials.
func checkServer(ctx context.Context, r *ContextReport, cfg *clientcmdapi.Config, name string, cluster *clientcmdapi.Cluster, roots []*x509.Certificate, opts CheckOptions) {
	u, err := url.Parse(cluster.Server)
	if err != nil || u.Host == "" {
		r.add(CheckServerSAN, StatusFail, "server %q is not a URL", cluster.Server)
		return
	}
	if u.Scheme != "https" {
		r.add(CheckServerSAN, StatusFail, "server %q does not use https", cluster.Server)
		return
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	want := host
	if cluster.TLSServerName != "" {
		want = cluster.TLSServerName
	}
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName: want,
		// The certificate is checked below, so that a failure can be
		// reported precisely (wrong CA, missing SAN) instead of as one
		// handshake error.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		r.add(CheckServerSAN, StatusFail, "TLS handshake with %s: %v", addr, err)
		return
	}
	state := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	if len(state.PeerCertificates) == 0 {
		r.add(CheckServerSAN, StatusFail, "%s sent no certificate", addr)
		return
	}
	leaf := state.PeerCertificates[0]
	if err := leaf.VerifyHostname(want); err != nil {
		r.add(CheckServerSAN, StatusFail, "the server certificate does not name %q: %v; add it to the API server's certificate SANs (kubepki certs renew apiserver with --apiserver-cert-extra-sans) or set tls-server-name", want, err)
	} else {
		r.add(CheckServerSAN, StatusOK, "the server certificate names %q", want)
	}
	if roots != nil {
		if err := pki.VerifyChain(leaf, roots, state.PeerCertificates[1:], x509.ExtKeyUsageServerAuth, opts.Now()); err != nil {
			r.add(CheckConnect, StatusFail, "the server certificate does not chain to the cluster CA: %v", err)
			return
		}
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		r.add(CheckConnect, StatusFail, "build client configuration: %v", err)
		return
	}
	rc.Timeout = opts.Timeout
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		r.add(CheckConnect, StatusFail, "build HTTP client: %v", err)
		return
	}
	defer hc.CloseIdleConnections()
	req, err := newVersionRequest(dctx, cluster.Server)
	if err != nil {
		r.add(CheckConnect, StatusFail, "%v", err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		r.add(CheckConnect, StatusFail, "GET /version: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		r.add(CheckConnect, StatusFail, "GET /version: %s", resp.Status)
		return
	}
	r.add(CheckConnect, StatusOK, "GET /version with the context's credentials succeeded")
}

func subjectString(c *x509.Certificate) string {
	s := "CN=" + c.Subject.CommonName
	for _, o := range c.Subject.Organization {
		s += ",O=" + o
	}
	return s
}
