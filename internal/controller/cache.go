package controller

import (
	"time"

	certv1 "k8s.io/api/certificates/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

// The informer keeps every CSR in memory. CSRs that are finished (issued,
// denied or failed) need no more work except from the cleaner, so their
// cached copy drops the request and certificate bytes and managed fields:
// a store of 100,000 issued CSRs then costs a small fraction of the
// memory. The cached copy is never written back to the API.
const (
	// cachedNotAfterAnnotation carries, in the cached copy only, the
	// issued certificate's NotAfter (RFC 3339) for the cleaner.
	cachedNotAfterAnnotation = "kubepki.io/cached-not-after"
)

// cachedCertificate stands in for a dropped status.certificate so that
// certificates.HasCertificate stays true on the cached copy.
var cachedCertificate = []byte("<issued>")

// slimForCache is the informer's transform: it strips finished CSRs.
func slimForCache(obj any) (any, error) {
	csr, ok := obj.(*certv1.CertificateSigningRequest)
	if !ok {
		return obj, nil
	}
	csr.ManagedFields = nil
	issued := certificates.HasCertificate(csr)
	if !issued && !certificates.IsDenied(csr) && !certificates.IsFailed(csr) {
		return csr, nil
	}
	csr.Spec.Request = nil
	if issued {
		if cert, err := pki.ParseCertificatePEM(csr.Status.Certificate); err == nil {
			ann := make(map[string]string, len(csr.Annotations)+1)
			for k, v := range csr.Annotations {
				ann[k] = v
			}
			ann[cachedNotAfterAnnotation] = cert.NotAfter.UTC().Format(time.RFC3339)
			csr.Annotations = ann
		}
		csr.Status.Certificate = cachedCertificate
	}
	return csr, nil
}

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
