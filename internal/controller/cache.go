package controller

import (
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

// The informer keeps every CSR in memory. Only a CSR some controller may
// still act on needs its whole object in the cache: an approved CSR the
// signer will sign, and a pending CSR the auto-approver may approve. Every
// other CSR (finished: issued, denied or failed; pending for a signer the
// approval policy never approves; approved for a signer without a CA here)
// is cached as a record: name, uid, resourceVersion, creation time,
// signer, requester name, condition types, statuses and times, and the
// issued certificate's NotAfter, which is what the cleaner and the logs
// read. Request, requester groups and extra, usages, labels,
// annotations, certificate bytes and managed fields are dropped. A store
// of 100,000 such CSRs then costs a fraction of the memory.
//
// A record is never written back to the API and never decided on: a CSR
// only becomes actionable through a change (an approval), and the watch
// event of that change carries the whole object, which the transform then
// keeps whole. The controllers see a record as a slimmed CSR (asCSR)
// without spec.request, which the API never stores, so the signer and
// approver recognise one and read the CSR from the API instead of acting
// on it (see [Manager.whole]).
const (
	// cachedNotAfterAnnotation carries, in the slimmed view of a record
	// only, the issued certificate's NotAfter (RFC 3339) for the cleaner.
	cachedNotAfterAnnotation = "kubepki.io/cached-not-after"
)

// cachedCertificate stands in for a dropped status.certificate so that
// certificates.HasCertificate stays true on the slimmed view.
var cachedCertificate = []byte("<issued>")

// slimForCache is the informer's transform: it turns every CSR that m
// does not act on (see actsOn) into a record.
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
	r := &record{
		name: csr.Name, uid: csr.UID, rv: csr.ResourceVersion, created: csr.CreationTimestamp,
		signer: constSigner(csr.Spec.SignerName), username: csr.Spec.Username,
		issued: certificates.HasCertificate(csr),
	}
	if r.issued {
		if cert, err := pki.ParseCertificatePEM(csr.Status.Certificate); err == nil {
			r.notAfter = cert.NotAfter
		}
	}
	if n := len(csr.Status.Conditions); n > 0 {
		r.conditions = make([]recordCondition, n)
		for i, c := range csr.Status.Conditions {
			r.conditions[i] = recordCondition{typ: constConditionType(c.Type), status: constStatus(c.Status), updated: c.LastUpdateTime}
		}
	}
	return r, nil
}

// record is the cached form of a CSR no controller acts on: what the
// cleaner and the logs read, in well under half the memory of a decoded
// CertificateSigningRequest (whose struct alone is 480 bytes, mostly
// fields a CSR never sets).
type record struct {
	name       string
	uid        types.UID
	rv         string
	signer     string
	username   string
	created    metav1.Time
	notAfter   time.Time // zero when not issued or not parseable
	conditions []recordCondition
	issued     bool
}

type recordCondition struct {
	typ     certv1.RequestConditionType
	status  corev1.ConditionStatus
	updated metav1.Time
}

// GetObjectMeta makes a record usable by client-go's cache (keys, and
// resourceVersion comparisons on resync).
func (r *record) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: r.name, UID: r.uid, ResourceVersion: r.rv, CreationTimestamp: r.created}
}

// csr returns the slimmed CSR r stands for: no request, so that slimmed
// reports true; a placeholder certificate when issued, and the
// certificate's NotAfter in an annotation for the cleaner.
func (r *record) csr() *certv1.CertificateSigningRequest {
	c := &certv1.CertificateSigningRequest{}
	r.fill(c)
	return c
}

// fill makes c the slimmed CSR r stands for, reusing c's annotations map
// and conditions slice: the cleaner looks at every record with one
// scratch CSR instead of a new one each.
func (r *record) fill(c *certv1.CertificateSigningRequest) {
	annotations, conditions := c.Annotations, c.Status.Conditions[:0]
	clear(annotations)
	*c = certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: r.name, UID: r.uid, ResourceVersion: r.rv, CreationTimestamp: r.created},
		Spec:       certv1.CertificateSigningRequestSpec{SignerName: r.signer, Username: r.username},
	}
	c.Annotations = annotations // empty, or nil for a new c
	if r.issued {
		c.Status.Certificate = cachedCertificate
		if !r.notAfter.IsZero() {
			if c.Annotations == nil {
				c.Annotations = make(map[string]string, 1)
			}
			c.Annotations[cachedNotAfterAnnotation] = r.notAfter.UTC().Format(time.RFC3339)
		}
	}
	for _, rc := range r.conditions {
		conditions = append(conditions, certv1.CertificateSigningRequestCondition{Type: rc.typ, Status: rc.status, LastUpdateTime: rc.updated})
	}
	c.Status.Conditions = conditions // empty, or nil for a new c
}

// asCSR returns the CSR behind a cache entry or a deletion notice: the
// cached object itself, or the slimmed view of a record.
func asCSR(obj any) (*certv1.CertificateSigningRequest, bool) {
	switch o := obj.(type) {
	case *certv1.CertificateSigningRequest:
		return o, true
	case *record:
		return o.csr(), true
	case cache.DeletedFinalStateUnknown:
		return asCSR(o.Obj)
	}
	return nil, false
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

// constConditionType and constStatus return the known values as
// constants, as constSigner does.
func constConditionType(t certv1.RequestConditionType) certv1.RequestConditionType {
	for _, k := range []certv1.RequestConditionType{certv1.CertificateApproved, certv1.CertificateDenied, certv1.CertificateFailed, ConditionIssuing} {
		if t == k {
			return k
		}
	}
	return t
}

func constStatus(s corev1.ConditionStatus) corev1.ConditionStatus {
	for _, k := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown} {
		if s == k {
			return k
		}
	}
	return s
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
