package cluster

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
)

// countingSigner counts the signatures a CA key makes.
type countingSigner struct {
	crypto.Signer
	n atomic.Int64
}

func (c *countingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(rand, digest, opts)
}

// TestSignLintsBeforeIssuing: a certificate that breaks a lint rule is
// refused before the CA key signs anything; one that passes is signed
// once, by the real CA.
func TestSignLintsBeforeIssuing(t *testing.T) {
	t.Parallel()
	opts := DefaultOptions()
	opts.CertDir, opts.KubeconfigDir = t.TempDir(), t.TempDir()
	opts.AdvertiseAddress = "10.0.0.10"
	p, err := NewPlan(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(p)
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes", Now: r.now})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingSigner{Signer: ca.Key}
	ca.Key = counting
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     pki.CertOptions
		wantRule string // "" means issued
	}{
		{"admin client", r.certOptions("kubernetes-admin", []string{"kubeadm:cluster-admins"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, pki.SANs{}), ""},
		{"upper-case node", pki.CertOptions{Subject: pkix.Name{CommonName: "SYSTEM:NODE:NODE01", Organization: []string{"system:nodes"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, "L01"},
		{"user with server auth", pki.CertOptions{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}, "L04"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counting.n.Load()
			cert, err := r.sign(ca, key.Public(), tc.opts, filepath.Join(opts.CertDir, "x.crt"))
			if tc.wantRule == "" {
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
					t.Errorf("issued certificate is not signed by the real CA: %v", err)
				}
				if n := counting.n.Load() - before; n != 1 {
					t.Errorf("the CA key made %d signatures for one certificate, want 1", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantRule) {
				t.Fatalf("sign = %v, want a refusal naming %s", err, tc.wantRule)
			}
			if n := counting.n.Load() - before; n != 0 {
				t.Errorf("the CA key signed %d times for a refused certificate, want 0", n)
			}
		})
	}
}
