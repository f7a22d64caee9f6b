package controller_test

import (
	"crypto/x509/pkix"
	"fmt"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestSlimForCache checks the informer transform: finished CSRs lose their
// bytes but keep what the controllers decide on; others are unchanged.
func TestSlimForCache(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t)
	notAfter := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	leaf, _ := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "x"}, NotAfter: notAfter})
	approvedCond := certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
		LastUpdateTime: metav1.NewTime(notAfter.Add(-30 * time.Minute))}

	pending, _ := userCSR(t, "p")
	pending.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	out, err := controller.SlimForCache(pending.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*certv1.CertificateSigningRequest)
	if len(got.Spec.Request) == 0 || got.ManagedFields != nil {
		t.Errorf("pending CSR: request kept = %v, managed fields = %v; want request kept, managed fields dropped",
			len(got.Spec.Request) > 0, got.ManagedFields)
	}

	issued, _ := userCSR(t, "i")
	issued.Annotations = map[string]string{"team": "a"}
	issued.Status.Conditions = []certv1.CertificateSigningRequestCondition{approvedCond}
	issued.Status.Certificate = pki.MarshalCertificatePEM(leaf)
	original := issued.DeepCopy()
	out, err = controller.SlimForCache(issued)
	if err != nil {
		t.Fatal(err)
	}
	got = out.(*certv1.CertificateSigningRequest)
	if len(got.Spec.Request) != 0 || !certificates.HasCertificate(got) || !certificates.IsApproved(got) || got.Annotations["team"] != "a" {
		t.Errorf("issued CSR slimmed wrongly: %+v", got)
	}
	if len(got.Status.Certificate) >= len(original.Status.Certificate) {
		t.Error("issued CSR kept its certificate bytes")
	}
	if r := controller.CleanupRule(got, notAfter.Add(-time.Minute)); r != "" {
		t.Errorf("before expiry: CleanupRule = %q, want none", r)
	}
	if r := controller.CleanupRule(got, notAfter.Add(time.Minute)); r != controller.RuleCertExpired {
		t.Errorf("after expiry: CleanupRule = %q, want %q", r, controller.RuleCertExpired)
	}
	if r := controller.CleanupRule(got, notAfter.Add(time.Minute)); r != controller.CleanupRule(original, notAfter.Add(time.Minute)) {
		t.Errorf("slimmed and full CSR get different rules: %q vs %q", r, controller.CleanupRule(original, notAfter.Add(time.Minute)))
	}
}

// TestCachedCount checks that CachedCount follows the store: 0 before
// the manager runs, then every created CSR once the informer saw it.
func TestCachedCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m, err := controller.New(controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(newRecorder())})
	if err != nil {
		t.Fatal(err)
	}
	if n := m.CachedCount(); n != 0 {
		t.Fatalf("CachedCount before Run = %d, want 0", n)
	}
	m, _ = startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(newRecorder())})
	const want = 3
	for i := range want {
		csr, _ := userCSR(t, fmt.Sprintf("count-%d", i))
		create(t, e.client("jane", "dev"), csr)
	}
	deadline := time.Now().Add(waitTimeout)
	for m.CachedCount() < want {
		if time.Now().After(deadline) {
			t.Fatalf("CachedCount = %d after %v, want %d", m.CachedCount(), waitTimeout, want)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if n := m.CachedCount(); n != want {
		t.Fatalf("CachedCount = %d, want %d", n, want)
	}
}
