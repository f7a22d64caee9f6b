package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// probeTimeout bounds each endpoint's probe in [probeEndpoints].
const probeTimeout = 2 * time.Second

// probeEndpoints explains a failed first connection: the etcd client only
// reports that no member answered in time, whatever the cause, so New
// dials every endpoint once itself, with a TCP connection and, for https
// endpoints, a TLS handshake with the same configuration. It returns nil
// when some endpoint accepts the connection (the cause is then etcd's own,
// such as a lost quorum) or none can be probed, and otherwise every
// endpoint's cause, in the order of endpoints.
func probeEndpoints(ctx context.Context, endpoints []string, cfg *tls.Config) error {
	errs := make([]error, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() { errs[i] = probeEndpoint(ctx, ep, cfg) })
	}
	wg.Wait()
	args := make([]any, len(errs))
	for i, err := range errs {
		if err == nil {
			return nil
		}
		args[i] = err
	}
	// One line, unlike errors.Join: the CLI prints it after "error: ".
	return fmt.Errorf(strings.Repeat("; %w", len(errs))[2:], args...)
}

// probeEndpoint connects to one endpoint as the etcd client would and
// returns why that fails, or nil when it succeeds or the endpoint is not
// an http or https URL.
func probeEndpoint(ctx context.Context, endpoint string, cfg *tls.Config) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	defer conn.Close()
	if u.Scheme == "http" || cfg == nil {
		return nil
	}
	c := cfg.Clone()
	if c.ServerName == "" {
		c.ServerName = u.Hostname()
	}
	c.NextProtos = []string{"h2"} // as gRPC offers
	tc := tls.Client(conn, c)
	err = tc.HandshakeContext(ctx)
	if err == nil {
		// With TLS 1.3 the client finishes its handshake before the
		// server checks the client certificate; a refusal arrives as an
		// alert on the first read. A member that accepts sends its HTTP/2
		// settings instead, or nothing until the deadline.
		deadline := time.Now().Add(probeTimeout / 2)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = tc.SetReadDeadline(deadline)
		var b [1]byte
		if _, rerr := tc.Read(b[:]); isRemoteAlert(rerr) {
			err = rerr
		}
	}
	if err == nil {
		return nil
	}
	return explainTLS(endpoint, c, err)
}

// isRemoteAlert reports whether err is a TLS alert sent by the peer.
func isRemoteAlert(err error) bool {
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "remote error"
}

// explainTLS adds to a failed handshake with endpoint what it means for
// the flags.
func explainTLS(endpoint string, cfg *tls.Config, err error) error {
	hasClientCert := len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil
	switch {
	case isRemoteAlert(err) && !hasClientCert:
		return fmt.Errorf("%s refused the TLS connection: %w; it wants a client certificate: set --etcd-certfile and --etcd-keyfile", endpoint, err)
	case isRemoteAlert(err):
		return fmt.Errorf("%s refused the TLS connection: %w; check that --etcd-certfile is signed by a CA in etcd's --trusted-ca-file, allows client auth and is not expired", endpoint, err)
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return fmt.Errorf("%s: %w; check that --etcd-cafile holds the CA of the members' serving certificates", endpoint, err)
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return fmt.Errorf("%s does not speak TLS: %w; write the endpoint with http:// if it serves plain HTTP", endpoint, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// etcd's listener closes a connection it cannot read as TLS.
		return fmt.Errorf("%s closed the connection during the TLS handshake (%w); write the endpoint with http:// if it serves plain HTTP", endpoint, err)
	}
	return fmt.Errorf("%s: TLS handshake: %w", endpoint, err)
}
