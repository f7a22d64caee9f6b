package controller

import (
	"context"

	certv1 "k8s.io/api/certificates/v1"
)

// Test hooks into single steps of the signer and cleaner, for the
// external test package (which needs apiservertest, which imports this
// package).

func (m *Manager) ReserveForTest(ctx context.Context, csr *certv1.CertificateSigningRequest, serial string) (*certv1.CertificateSigningRequest, error) {
	return m.reserveCSR(ctx, csr, serial)
}

func (m *Manager) StoreForTest(ctx context.Context, reserved *certv1.CertificateSigningRequest, serial string, pem []byte) error {
	return m.store(ctx, reserved, pendingCert{serial: serial, pem: pem})
}

func (m *Manager) CleanOnceForTest(ctx context.Context, objs []any) int {
	return m.cleanOnce(ctx, objs)
}

// SlimForCache is the informer transform.
var SlimForCache = slimForCache

// SignForTest runs the signer on one CSR.
func (m *Manager) SignForTest(ctx context.Context, csr *certv1.CertificateSigningRequest) error {
	_, err := m.sign(ctx, csr)
	return err
}

// AddPendingForTest records a signed, not yet stored certificate.
func (m *Manager) AddPendingForTest(csr *certv1.CertificateSigningRequest, serial string, pem []byte) {
	m.mu.Lock()
	m.pending[csr.UID] = pendingCert{serial: serial, pem: pem}
	m.mu.Unlock()
}
