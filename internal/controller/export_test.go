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

// SlimForCache is m's informer transform.
func (m *Manager) SlimForCache(obj any) (any, error) { return m.slimForCache(obj) }

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

// ApproveForTest runs the auto-approver on one CSR.
func (m *Manager) ApproveForTest(ctx context.Context, csr *certv1.CertificateSigningRequest) error {
	_, err := m.autoApprove(ctx, csr)
	return err
}

// CachedForTest returns a copy of the informer's cached copy of name.
func (m *Manager) CachedForTest(name string) (*certv1.CertificateSigningRequest, bool) {
	s := m.cached.Load()
	if s == nil {
		return nil, false
	}
	obj, ok, err := (*s).GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	csr, ok := obj.(*certv1.CertificateSigningRequest)
	if !ok {
		return nil, false
	}
	return csr.DeepCopy(), true
}
