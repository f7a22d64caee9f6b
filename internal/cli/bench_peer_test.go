package cli

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/pki"
)

// TestPeerSigner checks the bare signer's answers: a certificate from the
// CA for a good request, and an error and no certificate for anything
// else.
func TestPeerSigner(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: "alice", Organization: []string{"dev"}}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	good := pki.MarshalCSRPEM(der)
	bad := bytes.Clone(der)
	bad[len(bad)-3] ^= 0xff // inside the signature
	srv := httptest.NewTLSServer(peerSigner{ca: ca})
	t.Cleanup(srv.Close)
	post := func(method string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/sign", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, data
	}

	code, body := post(http.MethodPost, good)
	if code != http.StatusOK {
		t.Fatalf("POST a good request: %d %s", code, body)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("answer %q is not a PEM certificate", body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate does not verify as a client certificate: %v", err)
	}
	if cert.Subject.CommonName != "alice" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "dev" {
		t.Errorf("subject = %v, want the request's CN=alice, O=dev", cert.Subject)
	}

	for _, tc := range []struct {
		name   string
		method string
		body   []byte
		want   int
	}{
		{"GET", http.MethodGet, nil, http.StatusMethodNotAllowed},
		{"not PEM", http.MethodPost, []byte("hello"), http.StatusBadRequest},
		{"wrong PEM type", http.MethodPost, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), http.StatusBadRequest},
		{"bad signature", http.MethodPost, pki.MarshalCSRPEM(bad), http.StatusBadRequest},
		{"too large", http.MethodPost, append(bytes.Repeat([]byte("x"), benchPeerMaxBody), good...), http.StatusRequestEntityTooLarge},
	} {
		code, body := post(tc.method, tc.body)
		if code != tc.want || bytes.Contains(body, []byte("BEGIN CERTIFICATE")) {
			t.Errorf("%s: %d %q, want %d and no certificate", tc.name, code, body, tc.want)
		}
	}
}

// TestMeasurePeer drives the bare signer over each transport and checks
// the count and that every request was answered with a certificate.
func TestMeasurePeer(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	pems, err := benchRequestPEMs(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range benchTransports {
		p, err := measurePeer(t.Context(), ca, pems, 3, 200*time.Millisecond, transport)
		if err != nil {
			t.Fatalf("%s: %v", transport, err)
		}
		if p.Requests < 3 || p.Errors != 0 || p.FirstError != "" || p.Transport != transport || p.Concurrency != 3 ||
			p.RequestsPerSecond <= 0 || p.P50Millis <= 0 {
			t.Errorf("%s: %+v, want requests answered without errors", transport, p)
		}
	}
	if _, err := measurePeer(t.Context(), ca, nil, 1, time.Millisecond, transportH2); err == nil {
		t.Error("measurePeer with no requests succeeded")
	}
}

// TestCycleClientsConnections checks that the per-client transports give
// each worker a connection of its own with the protocol asked for, and
// that the default shares the caller's client.
func TestCycleClientsConnections(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		seen  = map[string]string{} // remote address -> protocol
		empty = []byte(`{"kind":"CertificateSigningRequestList","apiVersion":"certificates.k8s.io/v1","metadata":{},"items":[]}`)
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.RemoteAddr] = r.Proto
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(empty)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, QPS: -1}

	if clients, err := cycleClients(cfg, 3, transportH2); err != nil || clients != nil {
		t.Errorf("cycleClients(h2) = %d clients, %v; want none (the shared client)", len(clients), err)
	}
	for transport, proto := range map[string]string{transportH2PerClient: "HTTP/2.0", transportHTTP1PerClient: "HTTP/1.1"} {
		mu.Lock()
		clear(seen)
		mu.Unlock()
		clients, err := cycleClients(cfg, 3, transport)
		if err != nil || len(clients) != 3 {
			t.Fatalf("cycleClients(%s) = %d clients, %v; want 3", transport, len(clients), err)
		}
		for round := range 2 {
			for i, c := range clients {
				if _, err := c.List(t.Context(), metav1.ListOptions{}); err != nil {
					t.Fatalf("%s: client %d, round %d: %v", transport, i, round, err)
				}
			}
		}
		mu.Lock()
		var protos []string
		for _, p := range seen {
			protos = append(protos, p)
		}
		n := len(seen)
		mu.Unlock()
		// Three clients, two requests each over keep-alive: three
		// connections, each with the protocol asked for.
		if n != 3 || strings.Count(strings.Join(protos, " "), proto) != 3 {
			t.Errorf("%s: the server saw connections %v, want 3 of %s", transport, protos, proto)
		}
	}
}
