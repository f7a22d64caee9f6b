package apiserver

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
	"github.com/kubepki/kubepki/internal/storage"
)

// issuedCSR returns an issued CSR as the server stores one, with the
// given request and certificate bytes.
func issuedCSR(request, certificate []byte) *certv1.CertificateSigningRequest {
	now := metav1.NewTime(time.Unix(1764633600, 0))
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", UID: "8d7a1c2e-1111-2222-3333-444455556666", CreationTimestamp: now, Labels: map[string]string{"team": "blue"}},
		Spec: certv1.CertificateSigningRequestSpec{
			Request: request, SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:   []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
			Username: "kubernetes-admin", Groups: []string{"kubeadm:cluster-admins", GroupAuthenticated},
		},
		Status: certv1.CertificateSigningRequestStatus{
			Certificate: certificate,
			Conditions: []certv1.CertificateSigningRequestCondition{{
				Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AdminApproved", LastUpdateTime: now, LastTransitionTime: now,
			}},
		},
	}
}

// testChain returns a request and the PEM of a client certificate for
// its key, alone and followed by its CA.
func testChain(tb testing.TB) (request, leafPEM, chainPEM []byte) {
	tb.Helper()
	ca := pkitest.NewCA(tb, "kubernetes")
	cert, key := pkitest.ClientCert(tb, ca, "alice", "dev")
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: "alice", Organization: []string{"dev"}}, pki.SANs{})
	if err != nil {
		tb.Fatal(err)
	}
	leafPEM = pki.MarshalCertificatePEM(cert)
	return pki.MarshalCSRPEM(der), leafPEM, append(bytes.Clone(leafPEM), pki.MarshalCertificatePEM(ca.Cert)...)
}

// storedTestRequest returns the PEM of a fresh P-256 request.
func storedTestRequest(tb testing.TB) []byte {
	tb.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: "alice", Organization: []string{"dev"}}, pki.SANs{})
	if err != nil {
		tb.Fatal(err)
	}
	return pki.MarshalCSRPEM(der)
}

// roundTrip stores csr and reads it back, failing unless every field,
// byte for byte, is what was stored.
func roundTrip(t *testing.T, csr *certv1.CertificateSigningRequest) []byte {
	t.Helper()
	value, err := encodeStored(csr)
	if err != nil {
		t.Fatalf("encodeStored: %v", err)
	}
	got, err := decodeStored(storage.KV{Key: csrKey(csr.Name), Value: value, Revision: 7})
	if err != nil {
		t.Fatalf("decodeStored: %v", err)
	}
	want := csr.DeepCopy()
	want.ResourceVersion = "7"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("the stored CSR reads back different (-written +read):\n%s", diff)
	}
	return value
}

func TestStoredCompactForm(t *testing.T) {
	request, leaf, chain := testChain(t)
	crlf := bytes.ReplaceAll(request, []byte("\n"), []byte("\r\n"))
	withHeader := []byte(strings.Replace(string(leaf), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1))
	twoRequests := append(bytes.Clone(request), request...)
	leading := append([]byte("subject=CN=alice\n"), request...)
	trailing := append(bytes.Clone(request), '\n')
	notDER := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("not DER at all")})
	wrongType := pki.MarshalCertificatePEM(&x509.Certificate{Raw: []byte{0x30, 0x00}})
	longLines := []byte("-----BEGIN CERTIFICATE REQUEST-----\n" + strings.ReplaceAll(strings.Join(strings.Split(string(request), "\n")[1:], ""), "-----END CERTIFICATE REQUEST-----", "") + "\n-----END CERTIFICATE REQUEST-----\n")

	for _, tc := range []struct {
		name                 string
		request, certificate []byte
		// wantRequestDER and wantCertDER: which fields the value keeps as DER.
		wantRequestDER, wantCertDER bool
	}{
		{name: "pending", request: request, wantRequestDER: true},
		{name: "issued leaf", request: request, certificate: leaf, wantRequestDER: true, wantCertDER: true},
		{name: "issued chain", request: request, certificate: chain, wantRequestDER: true, wantCertDER: true},
		{name: "two request blocks", request: twoRequests, certificate: leaf, wantRequestDER: true, wantCertDER: true},
		{name: "CRLF lines stay PEM", request: crlf, certificate: leaf, wantCertDER: true},
		{name: "PEM headers stay PEM", request: request, certificate: withHeader, wantRequestDER: true},
		{name: "text before the block stays PEM", request: leading},
		{name: "a blank line after the block stays PEM", request: trailing},
		{name: "lines longer than 64 columns stay PEM", request: longLines},
		{name: "a block that is not DER stays PEM", request: notDER},
		{name: "the wrong PEM type stays PEM", request: wrongType, certificate: request},
		{name: "not PEM at all", request: []byte("hello"), certificate: []byte{0, 1, 2}},
		{name: "empty", request: nil, certificate: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr := issuedCSR(tc.request, tc.certificate)
			value := roundTrip(t, csr)
			compact := len(value) > 0 && value[0] == 0
			if want := tc.wantRequestDER || tc.wantCertDER; compact != want {
				t.Fatalf("compact form = %v, want %v", compact, want)
			}
			// Each field is in the value either as the PEM the client sent
			// or as the DER it carries, never both.
			for _, f := range []struct {
				pem   []byte
				der   bool
				field string
			}{{tc.request, tc.wantRequestDER, "spec.request"}, {tc.certificate, tc.wantCertDER, "status.certificate"}} {
				if len(f.pem) == 0 {
					continue
				}
				if has := bytes.Contains(value, f.pem); has == f.der {
					t.Errorf("%s: the value holds the PEM: %v, want %v", f.field, has, !f.der)
				}
			}
			if !compact {
				plain := *csr
				plain.TypeMeta, plain.ResourceVersion = metav1.TypeMeta{}, ""
				want, err := plain.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(value, want) {
					t.Fatalf("a value with nothing to convert is not the plain protobuf message")
				}
			}
		})
	}

	// What the compact form saves on an issued CSR.
	csr := issuedCSR(request, leaf)
	compact := roundTrip(t, csr)
	plain, err := csr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if saved := len(plain) - len(compact); saved*100/len(plain) < 20 {
		t.Fatalf("compact %d bytes, plain %d: saves under 20%%", len(compact), len(plain))
	}
	t.Logf("an issued CSR: %d bytes plain, %d compact", len(plain), len(compact))
}

// TestStoredReadsPlainProtobuf: values written before the compact form (a
// CSR's bare protobuf message) read unchanged.
func TestStoredReadsPlainProtobuf(t *testing.T) {
	request, leaf, _ := testChain(t)
	csr := issuedCSR(request, leaf)
	old, err := csr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeStoredValue(old)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(csr, got); diff != "" {
		t.Fatalf("a plain value reads back different (-written +read):\n%s", diff)
	}
}

func TestStoredRefusesUnknownForms(t *testing.T) {
	request, _, _ := testChain(t)
	good, err := encodeStored(issuedCSR(request, nil))
	if err != nil {
		t.Fatal(err)
	}
	if good[0] != 0 {
		t.Fatalf("a pending CSR is not in the compact form")
	}
	with := func(i int, b byte) []byte {
		v := bytes.Clone(good)
		v[i] = b
		return v
	}
	for _, tc := range []struct {
		name  string
		value []byte
		want  error
	}{
		{"a later version", with(1, storedVersion+1), errStoredForm},
		{"an unknown flag", with(2, good[2]|0x80), errStoredForm},
		{"a short header", []byte{0, storedVersion}, errStoredForm},
		// The request flag set on a value whose request is not DER ("h" is
		// a tag, "e" a length of 101 bytes that are not there).
		{"not DER where DER is expected", append([]byte{0, storedVersion, storedRequestDER}, mustMarshal(t, issuedCSR([]byte("hello"), nil))...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := decodeStoredValue(tc.value)
			if err == nil {
				t.Fatalf("decoded %q, want an error", csr.Name)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func mustMarshal(t *testing.T, csr *certv1.CertificateSigningRequest) []byte {
	t.Helper()
	b, err := csr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStoredOpenSSLRequest: a request as openssl writes it, the way users
// make them, is kept as DER and read back byte for byte.
func TestStoredOpenSSLRequest(t *testing.T) {
	dir := t.TempDir()
	keyFile, csrFile := filepath.Join(dir, "alice.key"), filepath.Join(dir, "alice.csr")
	openssl := pkitest.RequireTool(t, "openssl")
	out, err := exec.CommandContext(t.Context(), openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", keyFile, "-out", csrFile, "-subj", "/CN=alice/O=dev").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	request, err := os.ReadFile(csrFile)
	if err != nil {
		t.Fatal(err)
	}
	value := roundTrip(t, issuedCSR(request, nil))
	if value[0] != 0 || bytes.Contains(value, request) {
		t.Fatalf("openssl's request is not kept as DER")
	}
}

// BenchmarkStored compares the compact form with the plain protobuf
// message it replaced, for an issued CSR.
func BenchmarkStored(b *testing.B) {
	request, leaf, _ := testChain(b)
	csr := issuedCSR(request, leaf)
	plain, err := csr.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	compact, err := encodeStored(csr)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("plain %d bytes, compact %d", len(plain), len(compact))
	b.Run("encode/plain", func(b *testing.B) {
		for b.Loop() {
			if _, err := csr.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/compact", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeStored(csr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/plain", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeStoredValue(plain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/compact", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeStoredValue(compact); err != nil {
				b.Fatal(err)
			}
		}
	})
}
