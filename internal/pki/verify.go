package pki

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"
)

// VerifyChain verifies that cert chains to one of roots, through
// intermediates if needed, for the given extended key usage
// (x509.ExtKeyUsageAny accepts any) at time now.
func VerifyChain(cert *x509.Certificate, roots, intermediates []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) error {
	rp := x509.NewCertPool()
	for _, r := range roots {
		rp.AddCert(r)
	}
	ip := x509.NewCertPool()
	for _, c := range intermediates {
		ip.AddCert(c)
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:         rp,
		Intermediates: ip,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("verify %q: %w", cert.Subject.CommonName, err)
	}
	return nil
}

// KeyMatchesCertificate returns ErrKeyMismatch unless key is the private
// key of cert's public key.
func KeyMatchesCertificate(key crypto.Signer, cert *x509.Certificate) error {
	if !PublicKeysEqual(key.Public(), cert.PublicKey) {
		return fmt.Errorf("%w of certificate %q", ErrKeyMismatch, cert.Subject.CommonName)
	}
	return nil
}
