package apiserver_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestUnauthenticatedBodyHTTP2Curl: an unauthenticated HTTP/2 request
// with a body (curl posting a CSR with an expired certificate) gets its
// whole 401 Status every time, though its connection is closed after
// the answer.
func TestUnauthenticatedBodyHTTP2Curl(t *testing.T) {
	t.Parallel()
	curl := pkitest.RequireTool(t, "curl")
	srv := apiservertest.Start(t, apiservertest.Options{})
	dir := t.TempDir()
	now := time.Now()
	cert, key := pkitest.Leaf(t, srv.CA, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "expired"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour),
	})
	certFile, keyFile := pkitest.WritePair(t, dir, "expired", cert, key)
	caFile := filepath.Join(dir, "ca.crt")
	bodyFile := filepath.Join(dir, "csr.json")
	if err := os.WriteFile(caFile, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bodyFile, csrJSON(t, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	const tries = 50
	for i := range tries {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, curl, "-sS", "--http2", "--cacert", caFile, "--cert", certFile, "--key", keyFile,
			"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@"+bodyFile,
			"-w", "\n%{http_version} %{http_code}", srv.URL+csrPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("try %d of %d: curl: %v: %s (got %q)", i+1, tries, err, stderr.Bytes(), out)
		}
		body, trailer, _ := bytes.Cut(out, []byte("\n2 "))
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || st.Code != 401 || string(trailer) != "401" {
			t.Fatalf("try %d of %d: curl got %q (%v), want the whole 401 Status over HTTP/2", i+1, tries, out, err)
		}
	}
}

// TestUnauthenticatedBodyBounded: the body of an unauthenticated request
// is read for a short time only: a client that keeps its body open gets
// its 401 all the same, over HTTP/2.
func TestUnauthenticatedBodyBounded(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	c := foreignClient(t, srv)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(bytes.Repeat([]byte("x"), 1024)) }() // and never ends
	req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+csrPath, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUnauthorized {
				err = &unexpectedResponse{resp.Proto, resp.StatusCode}
			}
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("POST with an endless body and a foreign certificate: %v, want 401 over HTTP/2", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("POST with an endless body and a foreign certificate: no answer after %v", time.Since(start))
	}
}

type unexpectedResponse struct {
	proto string
	code  int
}

func (e *unexpectedResponse) Error() string { return e.proto + " " + http.StatusText(e.code) }
