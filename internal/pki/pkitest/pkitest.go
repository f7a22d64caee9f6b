// Package pkitest builds test CAs and certificates in a few lines and finds
// the real peer tools (openssl, kubectl) that tests check against. It is
// imported only by tests.
package pkitest

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
)

// RequireTool returns the path of the named program. When it is missing
// the test fails if the CI environment variable is "true", and is skipped
// with a loud message otherwise: a missing peer never passes silently.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI but is not on PATH: %v", name, err)
	}
	t.Skipf("SKIPPED: %s not on PATH (%v); this test needs the real %s", name, err, name)
	return ""
}

// NewCA returns a fresh ECDSA P-256 root CA with the given common name
// ("test-ca" if empty).
func NewCA(t testing.TB, cn ...string) *pki.CA {
	t.Helper()
	name := "test-ca"
	if len(cn) > 0 {
		name = cn[0]
	}
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: name})
	if err != nil {
		t.Fatalf("NewSelfSignedCA: %v", err)
	}
	return ca
}

// Leaf signs a certificate for a fresh ECDSA P-256 key with ca.
func Leaf(t testing.TB, ca *pki.CA, opts pki.CertOptions) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	cert, err := ca.Sign(key.Public(), opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return cert, key
}

// ClientCert signs a client-auth certificate with CN user and O groups.
func ClientCert(t testing.TB, ca *pki.CA, user string, groups ...string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	return Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// WritePair writes cert and key PEM files named base.crt and base.key into
// dir and returns their paths.
func WritePair(t testing.TB, dir, base string, cert *x509.Certificate, key crypto.Signer) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, base+".crt")
	keyFile = filepath.Join(dir, base+".key")
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(certFile, pki.MarshalCertificatePEM(cert), pki.ModeCert); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(keyFile, keyPEM, pki.ModeKey); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
