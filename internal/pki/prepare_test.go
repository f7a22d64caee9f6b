package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPrepareSignsWhatWasPrepared: the prepared TBSCertificate is what
// SignTemplate would sign for the same template, byte for byte, and Sign
// signs exactly it, with a signature that verifies against the CA, for
// every CA key type.
func TestPrepareSignsWhatWasPrepared(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ECDSAP256, ECDSAP384, RSA2048, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes", KeyAlgorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			key, err := GenerateKey(ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			sans, err := ParseSANs([]string{"DNS:w1", "IP:10.0.0.21"})
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := ca.Template(key.Public(), CertOptions{Subject: subjectCN("system:node:w1", "system:nodes"), SANs: sans,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				t.Fatal(err)
			}
			u, err := ca.Prepare(key.Public(), tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if u.Cert.Subject.CommonName != "system:node:w1" || len(u.Cert.DNSNames) != 1 || u.Cert.DNSNames[0] != "w1" ||
				u.Cert.SerialNumber.Cmp(tmpl.SerialNumber) != 0 || len(u.Cert.Signature) != 0 {
				t.Errorf("prepared certificate: CN %q DNS %v serial %v signature %d bytes", u.Cert.Subject.CommonName,
					u.Cert.DNSNames, u.Cert.SerialNumber, len(u.Cert.Signature))
			}
			if err := u.Cert.CheckSignatureFrom(ca.Cert); err == nil {
				t.Error("the unsigned certificate verifies against the CA")
			}
			ref, err := ca.SignTemplate(key.Public(), tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ref.RawTBSCertificate, u.Cert.RawTBSCertificate) {
				t.Error("the prepared TBSCertificate differs from the one x509.CreateCertificate signs")
			}
			cert, err := u.Sign()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cert.RawTBSCertificate, u.Cert.RawTBSCertificate) {
				t.Error("the signed TBSCertificate differs from the prepared one")
			}
			if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
			parsed, err := x509.ParseCertificate(cert.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(parsed, cert) {
				t.Error("the signed certificate differs from a parse of its own encoding")
			}
			if cert.SignatureAlgorithm != ref.SignatureAlgorithm {
				t.Errorf("signature algorithm %v, x509 uses %v", cert.SignatureAlgorithm, ref.SignatureAlgorithm)
			}
		})
	}
}

// wrongSigner claims the CA's public key but signs with another key.
type wrongSigner struct {
	pub   crypto.PublicKey
	other crypto.Signer
}

func (w wrongSigner) Public() crypto.PublicKey { return w.pub }
func (w wrongSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return w.other.Sign(r, d, o)
}

// TestPreparedSignRefusesBadSignature: a signer whose signatures do not
// verify against the CA certificate yields an error, not a certificate.
func TestPreparedSignRefusesBadSignature(t *testing.T) {
	t.Parallel()
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateKey(ECDSAP256)
	bad := &CA{Cert: ca.Cert, Key: wrongSigner{pub: ca.Key.Public(), other: other}}
	key, _ := GenerateKey(ECDSAP256)
	tmpl, err := bad.Template(key.Public(), CertOptions{Subject: subjectCN("jane")})
	if err != nil {
		t.Fatal(err)
	}
	u, err := bad.Prepare(key.Public(), tmpl)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := u.Sign()
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("Sign = %v, %v; want a signature error", cert, err)
	}
}

// TestOpenSSLAcceptsPrepared: openssl verifies and parses a certificate
// made by Prepare and Sign.
func TestOpenSSLAcceptsPrepared(t *testing.T) {
	t.Parallel()
	openssl := requireOpenSSL(t)
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(ECDSAP256)
	tmpl, err := ca.Template(key.Public(), CertOptions{Subject: subjectCN("jane", "dev"),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ca.Prepare(key.Public(), tmpl)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := u.Sign()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, leafFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "jane.crt")
	if err := os.WriteFile(caFile, MarshalCertificatePEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leafFile, MarshalCertificatePEM(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "verify", "-CAfile", caFile, "-purpose", "sslclient", leafFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}
