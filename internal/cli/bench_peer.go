package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/pki"
)

// The transports the cycle clients and the peer signer's clients use,
// the values of --transport.
const (
	// transportH2 is client-go's default: every client of the process
	// shares one HTTP/2 connection to the server, its requests
	// multiplexed as streams.
	transportH2 = "h2"
	// transportH2PerClient gives each client its own HTTP/2 connection,
	// as separate processes (kubelets, kubectl users) have.
	transportH2PerClient = "h2-per-client"
	// transportHTTP1PerClient gives each client its own keep-alive
	// HTTP/1.1 connection.
	transportHTTP1PerClient = "http1-per-client"
)

var benchTransports = []string{transportH2, transportH2PerClient, transportHTTP1PerClient}

// benchPeerRequests is how many different requests the peer's clients
// send in turn; it keeps no cache, so reusing them costs it nothing.
const benchPeerRequests = 256

// benchPeerMaxBody bounds a request body the peer reads.
const benchPeerMaxBody = 64 << 10

// BenchPeer is the reference the issue names, measured in the same run:
// a bare Go HTTPS signer (net/http, TLS 1.2+, the same CA and the same
// kind of P-256 requests; no authentication, no authorization, no
// storage, no watch) and its rate at the top concurrency level, with
// the same transport as the cycle clients.
type BenchPeer struct {
	Concurrency          int     `json:"concurrency"`
	Transport            string  `json:"transport"`
	Requests             int     `json:"requests"`
	Errors               int     `json:"errors"`
	FirstError           string  `json:"firstError,omitempty"`
	Seconds              float64 `json:"seconds"`
	RequestsPerSecond    float64 `json:"requestsPerSecond"`
	P50Millis            float64 `json:"p50Millis"`
	P99Millis            float64 `json:"p99Millis"`
	CPUSeconds           float64 `json:"cpuSeconds"`
	RequestsPerCPUSecond float64 `json:"requestsPerCPUSecond"`
	// APIRequestShare is the cycles' API requests per second at the same
	// concurrency divided by RequestsPerSecond, and APIRequestCPUShare
	// the same per CPU-second: how close the whole API server comes to
	// the bare signer (set only when that level ran).
	APIRequestShare    float64 `json:"apiRequestShare,omitempty"`
	APIRequestCPUShare float64 `json:"apiRequestCPUShare,omitempty"`
}

// compare sets the shares of c, the cycle level at the peer's
// concurrency.
func (p *BenchPeer) compare(cycles []BenchCycleResult) {
	for _, c := range cycles {
		if c.Concurrency != p.Concurrency || p.RequestsPerSecond <= 0 || p.RequestsPerCPUSecond <= 0 {
			continue
		}
		p.APIRequestShare = c.RequestsPerSecond / p.RequestsPerSecond
		// A cycle is three API requests (create, approve, get).
		p.APIRequestCPUShare = 3 * c.CyclesPerCPUSecond / p.RequestsPerCPUSecond
	}
}

// peerSigner is the bare signer: it answers a POST of one PEM
// certificate request with the PEM of a client certificate for its
// subject, after checking the request's signature.
type peerSigner struct{ ca *pki.CA }

func (s peerSigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a PEM certificate request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, benchPeerMaxBody+1))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > benchPeerMaxBody {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	cert, err := s.sign(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pki.MarshalCertificatePEM(cert))
}

func (s peerSigner) sign(body []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("the body is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	return s.ca.Sign(csr.PublicKey, pki.CertOptions{
		Subject:     csr.Subject,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// measurePeer starts the bare signer on 127.0.0.1 and drives it with c
// clients for d over transport, each client sending requests from pems
// in turn and checking that each answer is a certificate.
func measurePeer(ctx context.Context, ca *pki.CA, pems [][]byte, c int, d time.Duration, transport string) (*BenchPeer, error) {
	if len(pems) == 0 {
		return nil, errors.New("bench: no requests for the peer signer")
	}
	tlsCert, err := benchServingCert(ca)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           peerSigner{ca: ca},
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{tlsCert}},
		ReadHeaderTimeout: benchWaitTimeout,
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		_ = srv.Close()
		<-served
	}()
	url := "https://" + ln.Addr().String() + "/sign"
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	clients := make([]*http.Client, c)
	for i := range clients {
		if i == 0 || transport != transportH2 {
			clients[i] = &http.Client{Transport: peerTransport(pool, transport, c), Timeout: benchWaitTimeout}
		} else {
			clients[i] = clients[0]
		}
	}
	defer func() {
		for _, cl := range clients {
			cl.CloseIdleConnections()
		}
	}()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errCount  int
		firstErr  string
	)
	start := time.Now()
	cpuStart := processCPU()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for n := i; time.Now().Before(deadline) && ctx.Err() == nil; n += c {
				t0 := time.Now()
				err := peerRequest(ctx, cl, url, pems[n%len(pems)])
				if err != nil {
					mu.Lock()
					errCount++
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu := (processCPU() - cpuStart).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := percentiles(latencies)
	return &BenchPeer{
		Concurrency: c, Transport: transport, Requests: len(latencies), Errors: errCount, FirstError: firstErr,
		Seconds: elapsed, RequestsPerSecond: float64(len(latencies)) / elapsed,
		P50Millis: p.P50Millis, P99Millis: p.P99Millis,
		CPUSeconds: cpu, RequestsPerCPUSecond: float64(len(latencies)) / max(cpu, 1e-9),
	}, nil
}

// peerTransport is the HTTP transport of one peer client.
func peerTransport(pool *x509.CertPool, transport string, conns int) *http.Transport {
	t := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	if transport == transportHTTP1PerClient {
		// A non-nil, empty map turns HTTP/2 off.
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	} else {
		t.ForceAttemptHTTP2 = true
	}
	return t
}

// peerRequest sends one request to the peer and checks the answer.
func peerRequest(ctx context.Context, cl *http.Client, url string, csrPEM []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(csrPEM))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, benchPeerMaxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("peer signer: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if block, _ := pem.Decode(body); block == nil || block.Type != "CERTIFICATE" {
		return errors.New("peer signer: the answer is not a PEM certificate")
	}
	return nil
}

// benchServingCert is a serving certificate for 127.0.0.1 and localhost
// signed by ca.
func benchServingCert(ca *pki.CA) (tls.Certificate, error) {
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := ca.Sign(key.Public(), pki.CertOptions{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		SANs:        pki.SANs{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// cycleClients returns the clients of c cycle workers over transport,
// from cfg: nil for transportH2 (every worker uses the one shared
// client), otherwise one client, and so one connection, per worker.
func cycleClients(cfg *rest.Config, c int, transport string) ([]certv1client.CertificateSigningRequestInterface, error) {
	if transport == transportH2 {
		return nil, nil
	}
	clients := make([]certv1client.CertificateSigningRequestInterface, c)
	for i := range clients {
		own := rest.CopyConfig(cfg)
		// client-go shares one transport among configurations that
		// are alike; a dial function of its own makes this one apart.
		dialer := &net.Dialer{Timeout: benchWaitTimeout, KeepAlive: 30 * time.Second}
		own.Dial = dialer.DialContext
		if transport == transportHTTP1PerClient {
			own.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		cs, err := kubernetes.NewForConfig(own)
		if err != nil {
			return nil, err
		}
		clients[i] = cs.CertificatesV1().CertificateSigningRequests()
	}
	return clients, nil
}

// measurePeer measures the bare signer at concurrency c with the
// options' transport and duration, with a CA of its own made as the
// bench server's is.
func (o *benchOptions) measurePeer(ctx context.Context, c int) (*BenchPeer, error) {
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		return nil, err
	}
	pems, err := benchRequestPEMs(ctx, benchPeerRequests)
	if err != nil {
		return nil, err
	}
	return measurePeer(ctx, ca, pems, c, o.duration, o.transport)
}
