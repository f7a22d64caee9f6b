package controller

import (
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// recordTestCSRs returns full CSRs as the API serves them, finished so
// that no controller keeps them whole: issued, pending for a signer,
// denied, issued with a certificate that does not parse, and some with a
// uid or resourceVersion not in the form kubepki writes.
func recordTestCSRs(t *testing.T) []*certv1.CertificateSigningRequest {
	t.Helper()
	at := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	cert, _ := pkitest.ClientCert(t, pkitest.NewCA(t), "jane")
	csr := func(name, uid, rv, signer, user string, certificate []byte, conds ...certv1.CertificateSigningRequestCondition) *certv1.CertificateSigningRequest {
		return &certv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid), ResourceVersion: rv, CreationTimestamp: at,
				Labels: map[string]string{"team": "blue"}},
			Spec: certv1.CertificateSigningRequestSpec{Request: []byte("request"), SignerName: signer, Username: user,
				Groups: []string{"system:authenticated"}, Usages: []certv1.KeyUsage{certv1.UsageClientAuth}},
			Status: certv1.CertificateSigningRequestStatus{Certificate: certificate, Conditions: conds},
		}
	}
	cond := func(typ certv1.RequestConditionType, status corev1.ConditionStatus, updated metav1.Time) certv1.CertificateSigningRequestCondition {
		return certv1.CertificateSigningRequestCondition{Type: typ, Status: status, Reason: "Test", LastUpdateTime: updated}
	}
	return []*certv1.CertificateSigningRequest{
		csr("issued", "3f1b6c2a-9d4e-4b7a-8c21-0e5f6a7b8c9d", "5", certv1.KubeAPIServerClientSignerName, "jane", pki.MarshalCertificatePEM(cert),
			cond(certv1.CertificateApproved, corev1.ConditionTrue, at), cond(ConditionIssuing, corev1.ConditionFalse, at)),
		csr("pending", "00000000-0000-0000-0000-000000000001", "6", certv1.KubeletServingSignerName, "system:node:n1", nil),
		csr("denied", "ffffffff-ffff-ffff-ffff-ffffffffffff", "18446744073709551615", certv1.KubeAPIServerClientSignerName, "jane", nil,
			cond(certv1.CertificateDenied, corev1.ConditionTrue, at)),
		csr("issued-unparsed", "3f1b6c2a-9d4e-4b7a-8c21-0e5f6a7b8c9e", "8", "example.com/other", "", []byte("not a certificate"),
			cond(certv1.CertificateApproved, corev1.ConditionTrue, metav1.Time{})),
		csr("upper-case-uid", "3F1B6C2A-9D4E-4B7A-8C21-0E5F6A7B8C9D", "9", certv1.KubeAPIServerClientSignerName, "jane", nil),
		csr("leading-zero-rv", "3f1b6c2a-9d4e-4b7a-8c21-0e5f6a7b8c9d", "010", certv1.KubeAPIServerClientSignerName, "jane", nil),
		csr("opaque-rv", "not-a-uuid", "abc/123", certv1.KubeAPIServerClientSignerName, "jane", nil),
		csr("empty-ids", "", "", certv1.KubeAPIServerClientSignerName, "jane", nil),
	}
}

func recordOf(t *testing.T, csr *certv1.CertificateSigningRequest) *record {
	t.Helper()
	obj, err := transform(csr.DeepCopy(), func(*certv1.CertificateSigningRequest) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	r, ok := obj.(*record)
	if !ok {
		t.Fatalf("%s: cached as %T, not as a record", csr.Name, obj)
	}
	return r
}

// TestRecordKeepsWhatTheCleanerReads: the slimmed view of a record says
// what the full CSR says in every field the cleaner, the logs and the
// cache read, whatever form uid and resourceVersion take.
func TestRecordKeepsWhatTheCleanerReads(t *testing.T) {
	t.Parallel()
	for _, full := range recordTestCSRs(t) {
		r := recordOf(t, full)
		slim := r.csr()
		if !slimmed(slim) {
			t.Errorf("%s: the slimmed view is not recognised as slimmed", full.Name)
		}
		type view struct {
			Name, UID, RV, Signer, User string
			Created                     time.Time
			Conditions                  []certv1.CertificateSigningRequestCondition
			Issued                      bool
		}
		viewOf := func(c *certv1.CertificateSigningRequest) view {
			v := view{Name: c.Name, UID: string(c.UID), RV: c.ResourceVersion, Signer: c.Spec.SignerName, User: c.Spec.Username,
				Created: c.CreationTimestamp.UTC(), Issued: len(c.Status.Certificate) > 0}
			for _, cond := range c.Status.Conditions {
				v.Conditions = append(v.Conditions, certv1.CertificateSigningRequestCondition{
					Type: cond.Type, Status: cond.Status, LastUpdateTime: metav1.NewTime(cond.LastUpdateTime.UTC())})
			}
			return v
		}
		if d := cmp.Diff(viewOf(full), viewOf(slim), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: the record's view differs from the CSR (-full +record):\n%s", full.Name, d)
		}
		for _, c := range slim.Status.Conditions {
			if c.LastUpdateTime.IsZero() != (full.Name == "issued-unparsed") {
				t.Errorf("%s: condition %s updated at %v", full.Name, c.Type, c.LastUpdateTime)
			}
		}
		wantAfter, wantKnown := notAfter(full)
		gotAfter, gotKnown := notAfter(slim)
		if wantKnown != gotKnown || !wantAfter.Equal(gotAfter) {
			t.Errorf("%s: notAfter of the record %v (%v), of the CSR %v (%v)", full.Name, gotAfter, gotKnown, wantAfter, wantKnown)
		}
		meta := r.GetObjectMeta()
		created := meta.GetCreationTimestamp()
		if meta.GetName() != full.Name || meta.GetUID() != full.UID || meta.GetResourceVersion() != full.ResourceVersion ||
			!created.Equal(&full.CreationTimestamp) {
			t.Errorf("%s: GetObjectMeta = %s %s %s %v", full.Name, meta.GetName(), meta.GetUID(), meta.GetResourceVersion(), meta.GetCreationTimestamp())
		}
		canonical := map[string]bool{"issued": true, "pending": true, "denied": true, "issued-unparsed": true}[full.Name]
		if (r.odd == nil) != canonical {
			t.Errorf("%s: ids kept in binary = %v, want %v", full.Name, r.odd == nil, canonical)
		}
		for _, now := range []time.Time{full.CreationTimestamp.Time, full.CreationTimestamp.Add(2 * time.Hour), full.CreationTimestamp.Add(30 * time.Hour), full.CreationTimestamp.AddDate(2, 0, 0)} {
			if got, want := CleanupRule(slim, now), CleanupRule(full, now); got != want {
				t.Errorf("%s at %v: CleanupRule of the record = %q, of the CSR %q", full.Name, now, got, want)
			}
		}
	}
}

// TestRecordSize: a record of a pending CSR is one allocation of 112 bytes
// that holds no string of its own but the CSR's name.
func TestRecordSize(t *testing.T) {
	if size := unsafe.Sizeof(record{}); size > 112 {
		t.Errorf("a record is %d bytes, more than 112", size)
	}
	pending := recordTestCSRs(t)[1]
	never := func(*certv1.CertificateSigningRequest) bool { return false }
	recordOf(t, pending) // the signer and username handles exist from here on
	if n := testing.AllocsPerRun(100, func() { _, _ = transform(pending, never) }); n != 1 {
		t.Errorf("caching a pending CSR as a record allocates %v times, want 1", n)
	}
	r := recordOf(t, pending)
	if unsafe.StringData(r.name) != unsafe.StringData(pending.Name) {
		t.Errorf("the record copied the name")
	}
}

// TestRecordFillReusesNothingStale fills one scratch CSR from records in
// turn, as the cleaner does: each fill must equal a fresh copy of its
// own record, with nothing left from the one before (annotations,
// conditions, certificate).
func TestRecordFillReusesNothingStale(t *testing.T) {
	t.Parallel()
	var scratch certv1.CertificateSigningRequest
	for _, full := range recordTestCSRs(t) {
		r := recordOf(t, full)
		r.fill(&scratch)
		if d := cmp.Diff(r.csr(), &scratch, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: the refilled scratch differs from a fresh copy (-fresh +scratch):\n%s", r.name, d)
		}
		at := full.CreationTimestamp
		for _, now := range []time.Time{at.Time, at.Add(2 * time.Hour), at.Add(30 * time.Hour)} {
			if got, want := CleanupRule(&scratch, now), CleanupRule(r.csr(), now); got != want {
				t.Errorf("%s at %v: CleanupRule of the scratch = %q, of a fresh copy %q", r.name, now, got, want)
			}
		}
	}
}
