package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
)

// CreateCSR creates a DER certificate request for key with the given
// subject and SANs, signed with key. Usages are not part of a request:
// the signer decides them (as kubeadm's generate-csr and the Kubernetes
// Certificates API do).
func CreateCSR(key crypto.Signer, subject pkix.Name, sans SANs) ([]byte, error) {
	if err := CheckKeyStrength(key.Public()); err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:        subject,
		DNSNames:       sans.DNSNames,
		IPAddresses:    sans.IPAddresses,
		URIs:           sans.URIs,
		EmailAddresses: sans.EmailAddresses,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return der, nil
}

// SANsOf returns the subject alternative names of a request.
func SANsOf(csr *x509.CertificateRequest) SANs {
	return SANs{DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses, URIs: csr.URIs, EmailAddresses: csr.EmailAddresses}
}

// CertSANs returns the subject alternative names of a certificate.
func CertSANs(c *x509.Certificate) SANs {
	return SANs{DNSNames: c.DNSNames, IPAddresses: c.IPAddresses, URIs: c.URIs, EmailAddresses: c.EmailAddresses}
}
