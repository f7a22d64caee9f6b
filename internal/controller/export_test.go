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

// CacheForTest is m's informer transform: what the cache holds.
func (m *Manager) CacheForTest(obj any) (any, error) { return m.slimForCache(obj) }

// SlimForCache is m's informer transform.
// A record comes back as the slimmed CSR the controllers see.
func (m *Manager) SlimForCache(obj any) (any, error) {
	out, err := m.slimForCache(obj)
	if err != nil {
		return nil, err
	}
	if _, ok := out.(*record); !ok {
		return out, nil
	}
	csr, _ := asCSR(out)
	return csr, nil
}

// IsRecordForTest reports whether m's transform caches obj as a record.
func (m *Manager) IsRecordForTest(obj any) bool {
	out, _ := m.slimForCache(obj)
	_, ok := out.(*record)
	return ok
}

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
	csr, ok := asCSR(obj)
	if !ok {
		return nil, false
	}
	return csr.DeepCopy(), true
}
