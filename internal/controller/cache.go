package controller

import (
	"encoding/hex"
	"strconv"
	"time"
	"unique"

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
		name: csr.Name, created: csr.CreationTimestamp.Unix(),
		signer: unique.Make(csr.Spec.SignerName), username: unique.Make(csr.Spec.Username),
		issued: certificates.HasCertificate(csr),
	}
	r.setIDs(csr.UID, csr.ResourceVersion)
	if r.issued {
		if cert, err := pki.ParseCertificatePEM(csr.Status.Certificate); err == nil {
			r.notAfter, r.hasNotAfter = cert.NotAfter.Unix(), true
		}
	}
	if n := len(csr.Status.Conditions); n > 0 {
		r.conditions = make([]recordCondition, n)
		for i, c := range csr.Status.Conditions {
			r.conditions[i] = recordCondition{typ: constConditionType(c.Type), status: constStatus(c.Status), updated: c.LastUpdateTime.Unix()}
		}
	}
	return r, nil
}

// record is the cached form of a CSR no controller acts on: what the
// cleaner and the logs read, in a third of the memory of a decoded
// CertificateSigningRequest (whose struct alone is 480 bytes, mostly
// fields a CSR never sets). It holds no string of its own but the name:
// uid and resourceVersion in binary when they are in the canonical form
// the API server writes (in odd otherwise), signer and username as
// handles shared by every record with the same value, times as Unix
// seconds (the precision the API server writes them in; the zero time
// reads back as zero).
type record struct {
	name       string
	signer     unique.Handle[string]
	username   unique.Handle[string]
	uid        [16]byte
	rv         uint64
	odd        *recordIDs // uid and rv when not canonical, else nil
	created    int64      // Unix seconds
	notAfter   int64      // Unix seconds, when hasNotAfter
	conditions []recordCondition
	issued     bool
	// hasNotAfter: issued, and the certificate parsed.
	hasNotAfter bool
}

// recordIDs keeps a uid or resourceVersion that is not in canonical form.
type recordIDs struct {
	uid types.UID
	rv  string
}

type recordCondition struct {
	typ     certv1.RequestConditionType
	status  corev1.ConditionStatus
	updated int64 // Unix seconds
}

// setIDs stores uid and rv in binary, or as they are when either does not
// read back exactly.
func (r *record) setIDs(uid types.UID, rv string) {
	u, uok := parseUUID(string(uid))
	v, err := strconv.ParseUint(rv, 10, 64)
	if uok && err == nil && strconv.FormatUint(v, 10) == rv {
		r.uid, r.rv, r.odd = u, v, nil
		return
	}
	r.odd = &recordIDs{uid: uid, rv: rv}
}

func (r *record) ids() (types.UID, string) {
	if r.odd != nil {
		return r.odd.uid, r.odd.rv
	}
	return types.UID(formatUUID(r.uid)), strconv.FormatUint(r.rv, 10)
}

// GetObjectMeta makes a record usable by client-go's cache (keys, and
// resourceVersion comparisons on resync).
func (r *record) GetObjectMeta() metav1.Object {
	uid, rv := r.ids()
	return &metav1.ObjectMeta{Name: r.name, UID: uid, ResourceVersion: rv, CreationTimestamp: unixTime(r.created)}
}

// unixTime is the metav1.Time of Unix seconds sec, in local time as the
// protobuf decoder gives it.
func unixTime(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }

// parseUUID reads a UUID in the canonical lower-case form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	hexDigits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	for i := range 16 {
		hi, ok1 := lowerHex(hexDigits[2*i])
		lo, ok2 := lowerHex(hexDigits[2*i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[i] = hi<<4 | lo
	}
	return u, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// formatUUID writes u in the canonical form parseUUID reads.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
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
	r.fillView(c)
	c.UID, c.ResourceVersion = r.ids()
}

// fillView is fill without uid and resourceVersion, which the cleaner
// reads only of the CSRs it deletes: a pass over 100,000 records then
// makes no strings.
func (r *record) fillView(c *certv1.CertificateSigningRequest) {
	annotations, conditions := c.Annotations, c.Status.Conditions[:0]
	clear(annotations)
	*c = certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: r.name, CreationTimestamp: unixTime(r.created)},
		Spec:       certv1.CertificateSigningRequestSpec{SignerName: r.signer.Value(), Username: r.username.Value()},
	}
	c.Annotations = annotations // empty, or nil for a new c
	if r.issued {
		c.Status.Certificate = cachedCertificate
		if r.hasNotAfter {
			if c.Annotations == nil {
				c.Annotations = make(map[string]string, 1)
			}
			c.Annotations[cachedNotAfterAnnotation] = time.Unix(r.notAfter, 0).UTC().Format(time.RFC3339)
		}
	}
	for _, rc := range r.conditions {
		conditions = append(conditions, certv1.CertificateSigningRequestCondition{Type: rc.typ, Status: rc.status, LastUpdateTime: unixTime(rc.updated)})
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

// constConditionType and constStatus return the known values as the
// package constants, so that the decoded copy of each can be freed.
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
