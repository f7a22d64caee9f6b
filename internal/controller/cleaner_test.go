package controller_test

import (
	"context"
	"crypto/x509/pkix"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

func TestCleanupRule(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ca := pkitest.NewCA(t)
	cert := func(notAfter time.Time) []byte {
		c, _ := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter})
		return pki.MarshalCertificatePEM(c)
	}
	valid := cert(time.Now().Add(24 * time.Hour)) // valid today, expired by "now" in 2030
	cond := func(typ certv1.RequestConditionType, ago time.Duration) certv1.CertificateSigningRequestCondition {
		c := certv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue}
		if ago >= 0 {
			c.LastUpdateTime = metav1.NewTime(now.Add(-ago))
		}
		return c
	}
	mk := func(created time.Duration, certPEM []byte, conds ...certv1.CertificateSigningRequestCondition) *certv1.CertificateSigningRequest {
		c := &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
		if created >= 0 {
			c.CreationTimestamp = metav1.NewTime(now.Add(-created))
		}
		c.Status.Conditions = conds
		c.Status.Certificate = certPEM
		return c
	}
	// A certificate still valid at "now": not expired.
	future := cert(now.Add(24 * time.Hour))
	tests := []struct {
		name string
		csr  *certv1.CertificateSigningRequest
		want string
	}{
		{"fresh pending", mk(time.Hour, nil), ""},
		{"pending 23h", mk(23*time.Hour, nil), ""},
		{"pending 25h", mk(25*time.Hour, nil), controller.RulePending},
		{"pending, zero creation time", mk(-1, nil), ""},
		{"approved issued 30m", mk(48*time.Hour, future, cond(certv1.CertificateApproved, 30*time.Minute)), ""},
		{"approved issued 61m", mk(48*time.Hour, future, cond(certv1.CertificateApproved, 61*time.Minute)), controller.RuleIssued},
		{"approved issued, zero update time", mk(48*time.Hour, future, cond(certv1.CertificateApproved, -1)), ""},
		{"approved issued, certificate expired", mk(48*time.Hour, valid, cond(certv1.CertificateApproved, time.Minute)), controller.RuleCertExpired},
		{"approved never issued, 48h", mk(48*time.Hour, nil, cond(certv1.CertificateApproved, 47*time.Hour)), ""},
		{"denied 30m", mk(48*time.Hour, nil, cond(certv1.CertificateDenied, 30*time.Minute)), ""},
		{"denied 61m", mk(48*time.Hour, nil, cond(certv1.CertificateDenied, 61*time.Minute)), controller.RuleDenied},
		{"failed 61m", mk(48*time.Hour, nil, cond(certv1.CertificateApproved, 2*time.Minute), cond(certv1.CertificateFailed, 61*time.Minute)), controller.RuleFailed},
		{"failed 10m", mk(48*time.Hour, nil, cond(certv1.CertificateApproved, 2*time.Minute), cond(certv1.CertificateFailed, 10*time.Minute)), ""},
		{"custom condition only, 48h", mk(48*time.Hour, nil, cond("Custom", time.Minute)), ""},
	}
	for _, tc := range tests {
		if got := controller.CleanupRule(tc.csr, now); got != tc.want {
			t.Errorf("%s: controller.CleanupRule() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCleanerDeletes runs one cleaning pass against the real server with
// the clock moved forward, on whole CSRs and on the records the cache
// keeps of finished ones.
func TestCleanerDeletes(t *testing.T) {
	t.Parallel()
	for _, records := range []bool{false, true} {
		t.Run(map[bool]string{false: "objects", true: "records"}[records], func(t *testing.T) {
			t.Parallel()
			testCleanerDeletes(t, records)
		})
	}
}

func testCleanerDeletes(t *testing.T, records bool) {
	e := newEnv(t)
	ctx := context.Background()
	// Issue one CSR with a running signer first.
	_, stop := startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(newRecorder()), DisableCleaner: true})
	for _, name := range []string{"issued", "denied", "pending"} {
		in, _ := userCSR(t, name)
		create(t, e.admin, in)
	}
	approve(t, e.admin, "issued")
	deny(t, e.admin, "denied")
	waitIssued(t, e.admin, "issued")
	stop()

	var clock time.Time
	rec := newRecorder()
	m, err := controller.New(controller.Config{Client: e.ctrl, Logger: logger(rec), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	list := func() []any {
		l, err := e.admin.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []any
		for i := range l.Items {
			var obj any = &l.Items[i]
			if records {
				// As the informer caches it: a record (no controller of
				// m acts on any of these).
				if obj, err = m.CacheForTest(l.Items[i].DeepCopy()); err != nil {
					t.Fatal(err)
				}
				if !m.IsRecordForTest(&l.Items[i]) {
					t.Fatalf("%s is cached whole, not as a record", l.Items[i].Name)
				}
			}
			out = append(out, obj)
		}
		return out
	}
	names := func() map[string]bool {
		l, err := e.admin.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, c := range l.Items {
			got[c.Name] = true
		}
		return got
	}

	clock = time.Now().Add(30 * time.Minute)
	if n := m.CleanOnceForTest(ctx, list()); n != 0 {
		t.Errorf("after 30m: cleaned %d, want 0", n)
	}
	clock = time.Now().Add(2 * time.Hour)
	if n := m.CleanOnceForTest(ctx, list()); n != 2 {
		t.Errorf("after 2h: cleaned %d, want 2 (issued, denied)", n)
	}
	if got := names(); !got["pending"] || got["issued"] || got["denied"] {
		t.Errorf("after 2h: left %v, want only pending", got)
	}
	// A stale view never deletes a recreated CSR.
	stale := list()
	if err := e.admin.Delete(ctx, "pending", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _ := userCSR(t, "pending")
	create(t, e.admin, again)
	clock = time.Now().Add(25 * time.Hour)
	if n := m.CleanOnceForTest(ctx, stale); n != 0 {
		t.Errorf("stale pass cleaned %d, want 0", n)
	}
	if !names()["pending"] {
		t.Error("the recreated CSR was deleted on stale information")
	}
	if n := m.CleanOnceForTest(ctx, list()); n != 1 {
		t.Errorf("after 25h: cleaned %d, want 1", n)
	}
	if n := rec.count("csr cleaned", ""); n != 3 {
		t.Errorf("%d cleanings logged, want 3", n)
	}
}
