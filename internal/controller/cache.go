package controller

import (
	"time"

	certv1 "k8s.io/api/certificates/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

// The informer keeps every CSR in memory. Only a CSR some controller may
// still act on needs its whole object in the cache: an approved CSR the
// signer will sign, and a pending CSR the auto-approver may approve. Every
// other CSR (finished: issued, denied or failed; pending for a signer the
// approval policy never approves; approved for a signer without a CA here)
// is cached slimmed: request, requester groups and extra, usages, labels
// and annotations, certificate bytes and managed fields are dropped, and
// what the cleaner and the logs need is kept (name, uid, resourceVersion,
// creation time, signer, requester name, conditions, and the issued
// certificate's NotAfter). A store of 100,000 such CSRs then costs a
// fraction of the memory.
//
// A slimmed copy is never written back to the API and never decided on:
// a CSR only becomes actionable through a change (an approval), and the
// watch event of that change carries the whole object, which the
// transform then keeps whole. A slimmed copy has no spec.request, which
// the API never stores, so the signer and approver recognise one and read
// the CSR from the API instead of acting on it (see [Manager.whole]).
const (
	// cachedNotAfterAnnotation carries, in the cached copy only, the
	// issued certificate's NotAfter (RFC 3339) for the cleaner.
	cachedNotAfterAnnotation = "kubepki.io/cached-not-after"
)

// cachedCertificate stands in for a dropped status.certificate so that
// certificates.HasCertificate stays true on the cached copy.
var cachedCertificate = []byte("<issued>")

// slimForCache is the informer's transform: it slims every CSR that
// m does not act on (see actsOn).
func (m *Manager) slimForCache(obj any) (any, error) {
	return transform(obj, m.actsOn)
}

// actsOn reports whether the signer or the auto-approver of m may still
// act on csr, and so needs its cached copy whole.
func (m *Manager) actsOn(csr *certv1.CertificateSigningRequest) bool {
	return m.wantsSigning(csr) || (m.approve && m.mayAutoApprove(csr))
}

func transform(obj any, keep func(*certv1.CertificateSigningRequest) bool) (any, error) {
	csr, ok := obj.(*certv1.CertificateSigningRequest)
	if !ok {
		return obj, nil
	}
	csr.ManagedFields = nil
	if len(csr.Spec.Request) == 0 || keep(csr) {
		return csr, nil
	}
	var ann map[string]string
	issued := certificates.HasCertificate(csr)
	if issued {
		if cert, err := pki.ParseCertificatePEM(csr.Status.Certificate); err == nil {
			ann = map[string]string{cachedNotAfterAnnotation: cert.NotAfter.UTC().Format(time.RFC3339)}
		}
		csr.Status.Certificate = cachedCertificate
	}
	csr.Annotations = ann
	csr.Labels = nil
	csr.Spec.Request = nil
	csr.Spec.Groups = nil
	csr.Spec.Extra = nil
	csr.Spec.UID = ""
	csr.Spec.Usages = nil
	csr.Spec.SignerName = constSigner(csr.Spec.SignerName)
	for i := range csr.Status.Conditions {
		csr.Status.Conditions[i].Message = ""
	}
	return csr, nil
}

// constSigner returns a built-in signer's name as the package constant,
// so that the decoded copy of each CSR's name can be freed.
func constSigner(name string) string {
	switch name {
	case certificates.SignerKubeAPIServerClient:
		return certificates.SignerKubeAPIServerClient
	case certificates.SignerKubeAPIServerClientKubelet:
		return certificates.SignerKubeAPIServerClientKubelet
	case certificates.SignerKubeletServing:
		return certificates.SignerKubeletServing
	}
	return name
}

// slimmed reports whether csr is a slimmed cached copy: the API never
// stores a CSR without a request.
func slimmed(csr *certv1.CertificateSigningRequest) bool { return len(csr.Spec.Request) == 0 }

// notAfter returns the issued certificate's NotAfter from a full or a
// slimmed CSR, and whether it is known.
func notAfter(csr *certv1.CertificateSigningRequest) (time.Time, bool) {
	if s, ok := csr.Annotations[cachedNotAfterAnnotation]; ok {
		t, err := time.Parse(time.RFC3339, s)
		return t, err == nil
	}
	cert, err := pki.ParseCertificatePEM(csr.Status.Certificate)
	if err != nil {
		return time.Time{}, false
	}
	return cert.NotAfter, true
}
