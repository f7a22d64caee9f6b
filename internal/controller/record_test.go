package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRecordFillReusesNothingStale fills one scratch CSR from records in
// turn, as the cleaner does: each fill must equal a fresh copy of its
// own record, with nothing left from the one before (annotations,
// conditions, certificate).
func TestRecordFillReusesNothingStale(t *testing.T) {
	t.Parallel()
	at := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	records := []*record{
		{name: "issued", uid: "u1", rv: "5", signer: certv1.KubeAPIServerClientSignerName, username: "jane", created: at,
			issued: true, notAfter: at.Add(time.Hour),
			conditions: []recordCondition{
				{typ: certv1.CertificateApproved, status: corev1.ConditionTrue, updated: at},
				{typ: ConditionIssuing, status: corev1.ConditionFalse, updated: at},
			}},
		{name: "pending", uid: "u2", rv: "6", signer: certv1.KubeletServingSignerName, username: "system:node:n1", created: at},
		{name: "denied", uid: "u3", rv: "7", signer: certv1.KubeAPIServerClientSignerName, created: at,
			conditions: []recordCondition{{typ: certv1.CertificateDenied, status: corev1.ConditionTrue, updated: at}}},
		{name: "issued-unparsed", uid: "u4", rv: "8", created: at, issued: true},
	}
	var scratch certv1.CertificateSigningRequest
	for _, r := range records {
		r.fill(&scratch)
		if d := cmp.Diff(r.csr(), &scratch, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: the refilled scratch differs from a fresh copy (-fresh +scratch):\n%s", r.name, d)
		}
		for _, now := range []time.Time{at.Time, at.Add(2 * time.Hour), at.Add(30 * time.Hour)} {
			if got, want := CleanupRule(&scratch, now), CleanupRule(r.csr(), now); got != want {
				t.Errorf("%s at %v: CleanupRule of the scratch = %q, of a fresh copy %q", r.name, now, got, want)
			}
		}
	}
}
