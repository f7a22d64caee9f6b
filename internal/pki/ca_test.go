package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSelfSignedCAShape(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen > 0 {
		t.Errorf("basic constraints: IsCA=%v valid=%v maxPathLen=%d", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen)
	}
	wantKU := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign
	if c.KeyUsage != wantKU {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, wantKU)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "kubernetes" || c.Subject.CommonName != "kubernetes" || len(c.Subject.Organization) != 0 {
		t.Errorf("subject %v DNS %v, want CN=kubernetes DNS:kubernetes", c.Subject, c.DNSNames)
	}
	if got, want := c.NotBefore, now.Add(-Backdate); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if got, want := c.NotAfter, now.Add(DefaultCAValidity); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if len(c.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId has %d bytes, want 20", len(c.SubjectKeyId))
	}
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		t.Error("root CA issuer differs from subject")
	}
}

// TestCAKeyUsageByKeyType: kubeadm's CA usages, without key encipherment
// for an Ed25519 key (RFC 8410 §5).
func TestCAKeyUsageByKeyType(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ECDSAP256, RSA2048, Ed25519} {
		ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes", KeyAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign
		if alg == Ed25519 {
			want = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
		}
		if ca.Cert.KeyUsage != want {
			t.Errorf("%s CA: key usage %v, want %v", alg, ca.Cert.KeyUsage, want)
		}
	}
}

// TestCASANOnlyForDNSNames: a CA's common name becomes its DNS SAN, as
// kubeadm's, only when it is a DNS name.
func TestCASANOnlyForDNSNames(t *testing.T) {
	t.Parallel()
	for cn, want := range map[string][]string{
		"etcd-ca":           {"etcd-ca"},
		"Bad CN/with slash": nil,
		"Example Corp CA":   nil,
		"Kubernetes-CA":     {"Kubernetes-CA"},
	} {
		ca, err := NewSelfSignedCA(CAOptions{CommonName: cn})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ca.Cert.DNSNames, want) || ca.Cert.Subject.CommonName != cn {
			t.Errorf("CN %q: CN %q DNS %q, want DNS %q", cn, ca.Cert.Subject.CommonName, ca.Cert.DNSNames, want)
		}
	}
}

func TestSignLeaf(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(ECDSAP256)
	sans, err := ParseSANs([]string{"DNS:kubernetes.default", "IP:10.96.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(key.Public(), CertOptions{
		Subject:     subjectCN("kube-apiserver"),
		SANs:        sans,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("leaf: IsCA=%v BasicConstraintsValid=%v, want CA:FALSE present", cert.IsCA, cert.BasicConstraintsValid)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("KeyUsage = %v", cert.KeyUsage)
	}
	if !bytes.Equal(cert.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Error("AKI differs from CA SKI")
	}
	if !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) {
		t.Error("issuer bytes differ from CA subject bytes")
	}
	if got, want := cert.NotBefore, now.Add(-Backdate); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if got, want := cert.NotAfter, now.Add(DefaultValidity); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() < 100 || len(cert.SerialNumber.Bytes()) > 20 {
		t.Errorf("serial %x: want positive, about 128 bits, at most 20 octets", cert.SerialNumber)
	}
	if err := VerifyChain(cert, []*x509.Certificate{ca.Cert}, nil, x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Errorf("VerifyChain: %v", err)
	}
	if err := VerifyChain(cert, []*x509.Certificate{ca.Cert}, nil, x509.ExtKeyUsageClientAuth, now); err == nil {
		t.Error("VerifyChain accepted a server cert for client auth")
	}
	other, _ := NewSelfSignedCA(CAOptions{CommonName: "other"})
	if err := VerifyChain(cert, []*x509.Certificate{other.Cert}, nil, x509.ExtKeyUsageAny, now); err == nil {
		t.Error("VerifyChain accepted a foreign CA")
	}
	if err := KeyMatchesCertificate(key, cert); err != nil {
		t.Errorf("KeyMatchesCertificate: %v", err)
	}
	if err := KeyMatchesCertificate(ca.Key, cert); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("KeyMatchesCertificate(wrong key) = %v, want ErrKeyMismatch", err)
	}
}

func TestSignCapsAndRefuses(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "short", Validity: 48 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(ECDSAP256)
	cert, err := ca.Sign(key.Public(), CertOptions{Subject: subjectCN("x")})
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v not capped at CA NotAfter %v", cert.NotAfter, ca.Cert.NotAfter)
	}
	// An expired CA signs nothing.
	ca.Now = func() time.Time { return now.Add(72 * time.Hour) }
	if _, err := ca.Sign(key.Public(), CertOptions{Subject: subjectCN("x")}); !errors.Is(err, ErrCAExpired) {
		t.Errorf("expired CA: err = %v, want ErrCAExpired", err)
	}
	// Leaves never carry keyCertSign even when asked.
	ca.Now = func() time.Time { return now }
	cert, err = ca.Sign(key.Public(), CertOptions{Subject: subjectCN("x"), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
	if err != nil {
		t.Fatal(err)
	}
	if cert.KeyUsage&x509.KeyUsageCertSign != 0 || cert.IsCA {
		t.Error("leaf got keyCertSign or CA:TRUE")
	}
}

func TestNewCARejects(t *testing.T) {
	t.Parallel()
	ca, _ := NewSelfSignedCA(CAOptions{CommonName: "ca"})
	key, _ := GenerateKey(ECDSAP256)
	leaf, err := ca.Sign(key.Public(), CertOptions{Subject: subjectCN("leaf")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCA(leaf, key); !errors.Is(err, ErrNotCA) {
		t.Errorf("NewCA(leaf) = %v, want ErrNotCA", err)
	}
	if _, err := NewCA(ca.Cert, key); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("NewCA(wrong key) = %v, want ErrKeyMismatch", err)
	}
}

func TestLoadCARefusesReadableKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := NewSelfSignedCA(CAOptions{CommonName: "ca"})
	keyPEM, _ := MarshalPrivateKeyPEM(ca.Key)
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := WriteFile(certFile, MarshalCertificatePEM(ca.Cert), ModeCert); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(keyFile, keyPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(certFile, keyFile); err == nil {
		t.Fatal("LoadCA accepted a world-readable CA key")
	}
	if err := os.Chmod(keyFile, ModeKey); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Error("loaded a different certificate")
	}
	// Swapped arguments name the problem.
	if _, err := LoadCA(keyFile, certFile); err == nil {
		t.Error("LoadCA accepted swapped files")
	}
}

// TestOpenSSLAcceptsWhatWeSign checks every key algorithm's certificates
// with the real openssl verify and x509 -text, and our CSRs with req -verify.
func TestOpenSSLAcceptsWhatWeSign(t *testing.T) {
	t.Parallel()
	openssl := requireOpenSSL(t)
	for _, alg := range []KeyAlgorithm{ECDSAP256, ECDSAP384, RSA2048, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes", KeyAlgorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			key, _ := GenerateKey(alg)
			sans := SANs{DNSNames: []string{"node1"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1").To4()}}
			csrDER, err := CreateCSR(key, subjectCN("system:node:node1", "system:nodes"), sans)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := ParseCSRPEM(MarshalCSRPEM(csrDER))
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Fatalf("request signature: %v", err)
			}
			cert, err := ca.Sign(csr.PublicKey, CertOptions{Subject: csr.Subject, SANs: SANsOf(csr), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				t.Fatal(err)
			}
			write := func(name string, data []byte) string {
				p := filepath.Join(dir, name)
				if err := WriteFile(p, data, ModeCert); err != nil {
					t.Fatal(err)
				}
				return p
			}
			caFile := write("ca.crt", MarshalCertificatePEM(ca.Cert))
			certFile := write("leaf.crt", MarshalCertificatePEM(cert))
			csrFile := write("leaf.csr", MarshalCSRPEM(csrDER))
			run := func(args ...string) string {
				out, err := exec.Command(openssl, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			if out := run("verify", "-CAfile", caFile, certFile); !bytes.Contains([]byte(out), []byte("OK")) {
				t.Errorf("openssl verify: %s", out)
			}
			text := run("x509", "-noout", "-text", "-in", certFile)
			for _, want := range []string{"CA:FALSE", "TLS Web Server Authentication", "DNS:node1", "IP Address:10.0.0.1", "O = system:nodes, CN = system:node:node1"} {
				if !bytes.Contains([]byte(text), []byte(want)) {
					t.Errorf("openssl x509 -text lacks %q", want)
				}
			}
			run("req", "-verify", "-noout", "-in", csrFile)
		})
	}
}
