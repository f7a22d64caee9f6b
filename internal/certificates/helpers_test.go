package certificates

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Test keys are generated once per process: RSA generation is slow.
var (
	testKeysOnce sync.Once
	testKeys     map[string]crypto.Signer
)

func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys = map[string]crypto.Signer{}
		must := func(k crypto.Signer, err error) crypto.Signer {
			if err != nil {
				panic(err)
			}
			return k
		}
		testKeys["ecdsa-p256"] = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		testKeys["ecdsa-p384"] = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
		testKeys["ecdsa-p224"] = must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader))
		testKeys["ecdsa-p521"] = must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))
		testKeys["rsa-2048"] = must(rsa.GenerateKey(rand.Reader, 2048))
		testKeys["rsa-1024"] = must(rsa.GenerateKey(rand.Reader, 1024))
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		testKeys["ed25519"] = must(ed, err)
	})
	k, ok := testKeys[kind]
	if !ok {
		t.Fatalf("no test key %q", kind)
	}
	return k
}

// csrDER signs a PKCS#10 request for tmpl with key.
func csrDER(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

func csrPEM(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER(t, key, tmpl)})
}

func subject(cn string, orgs ...string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: orgs}
}

// newCSR returns a valid v1 CSR object for the client signer.
func newCSR(t testing.TB, name string, request []byte, signer string, usages ...certv1.KeyUsage) *certv1.CertificateSigningRequest {
	t.Helper()
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    request,
			SignerName: signer,
			Usages:     usages,
		},
	}
}

// userCSR is a valid client-signer CSR for jane.
func userCSR(t testing.TB) *certv1.CertificateSigningRequest {
	t.Helper()
	req := csrPEM(t, testKey(t, "ecdsa-p256"), &x509.CertificateRequest{Subject: subject("jane", "dev")})
	return newCSR(t, "jane", req, SignerKubeAPIServerClient, certv1.UsageClientAuth)
}

// certPEM returns a PEM certificate signed by a throwaway self-signed key.
func certPEM(t testing.TB) []byte {
	t.Helper()
	key := testKey(t, "ecdsa-p256")
	tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: subject("issued"), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func bigOne() *big.Int { return big.NewInt(1) }
