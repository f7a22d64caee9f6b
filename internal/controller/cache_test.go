package controller_test

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// slim runs m's informer transform on a copy of csr.
func slim(t *testing.T, m *controller.Manager, csr *certv1.CertificateSigningRequest) *certv1.CertificateSigningRequest {
	t.Helper()
	out, err := m.SlimForCache(csr.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	return out.(*certv1.CertificateSigningRequest)
}

func newManager(t *testing.T, cfg controller.Config) *controller.Manager {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = newEnv(t).ctrl
	}
	m, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withRequester fills spec as the server does on create, with labels and
// annotations, so that slimming has everything to drop.
func withRequester(csr *certv1.CertificateSigningRequest, user string, groups ...string) *certv1.CertificateSigningRequest {
	certificates.PrepareForCreate(csr, certificates.User{Name: user, UID: "uid-" + user, Groups: groups,
		Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"X509SHA256=00"}}})
	csr.UID = types.UID("csr-uid-" + csr.Name)
	csr.Labels = map[string]string{"team": "a"}
	csr.Annotations = map[string]string{"note": "b"}
	csr.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	return csr
}

func withCondition(csr *certv1.CertificateSigningRequest, typ certv1.RequestConditionType, at time.Time) *certv1.CertificateSigningRequest {
	csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: "Test", Message: "by test", LastUpdateTime: metav1.NewTime(at)})
	return csr
}

// wantWhole fails unless got is want without managed fields.
func wantWhole(t *testing.T, what string, got, want *certv1.CertificateSigningRequest) {
	t.Helper()
	want = want.DeepCopy()
	want.ManagedFields = nil
	if got.ManagedFields != nil || string(got.Spec.Request) != string(want.Spec.Request) || len(got.Spec.Groups) != len(want.Spec.Groups) ||
		len(got.Spec.Extra) != len(want.Spec.Extra) || len(got.Spec.Usages) != len(want.Spec.Usages) || got.Labels["team"] != "a" {
		t.Errorf("%s: cached copy is not whole: request %d bytes, groups %v, extra %v, usages %v, labels %v, managed fields %v",
			what, len(got.Spec.Request), got.Spec.Groups, got.Spec.Extra, got.Spec.Usages, got.Labels, got.ManagedFields)
	}
}

// wantSlim fails unless got dropped the bytes and kept what the cleaner
// and the logs use.
func wantSlim(t *testing.T, what string, got, orig *certv1.CertificateSigningRequest) {
	t.Helper()
	if len(got.Spec.Request) != 0 || got.Spec.Groups != nil || got.Spec.Extra != nil || got.Spec.Usages != nil ||
		got.Labels != nil || got.Annotations["note"] != "" || got.ManagedFields != nil {
		t.Errorf("%s: cached copy not slimmed: request %d bytes, groups %v, extra %v, usages %v, labels %v, annotations %v",
			what, len(got.Spec.Request), got.Spec.Groups, got.Spec.Extra, got.Spec.Usages, got.Labels, got.Annotations)
	}
	if got.Name != orig.Name || got.UID != orig.UID || got.Spec.SignerName != orig.Spec.SignerName ||
		got.Spec.Username != orig.Spec.Username || len(got.Status.Conditions) != len(orig.Status.Conditions) {
		t.Errorf("%s: slimmed copy lost what the controllers use: %+v", what, got)
	}
	for i, c := range got.Status.Conditions {
		if o := orig.Status.Conditions[i]; c.Type != o.Type || c.Status != o.Status || !c.LastUpdateTime.Equal(&o.LastUpdateTime) {
			t.Errorf("%s: condition %d changed: %+v, was %+v", what, i, c, o)
		}
	}
}

// TestSlimForCache checks the informer transform: every CSR that neither
// the signer nor the auto-approver may act on loses its bytes but keeps
// what the cleaner decides on; the others stay whole.
func TestSlimForCache(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t)
	env := newEnv(t)
	inventory := func(string) ([]string, []net.IP, bool) { return nil, nil, true }
	m := newManager(t, controller.Config{Client: env.ctrl, Signers: controller.SameCA(ca)})
	withInventory := newManager(t, controller.Config{Client: env.ctrl, Signers: controller.SameCA(ca), NodeInventory: inventory})
	noApprover := newManager(t, controller.Config{Client: env.ctrl, Signers: controller.SameCA(ca), DisableApprover: true})
	noSigner := newManager(t, controller.Config{Client: env.ctrl})

	now := time.Now().Truncate(time.Second)
	user, _ := userCSR(t, "user")
	user = withRequester(user, "jane", "dev", "system:authenticated")
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	kubelet, _ := newCSR(t, "kubelet", certificates.SignerKubeAPIServerClientKubelet, node, nil, nil, certv1.UsageDigitalSignature, certv1.UsageClientAuth)
	kubelet = withRequester(kubelet, "system:node:n1", "system:nodes")
	serving, _ := newCSR(t, "serving", certificates.SignerKubeletServing, node, []string{"n1"}, nil,
		certv1.UsageDigitalSignature, certv1.UsageServerAuth)
	serving = withRequester(serving, "system:node:n1", "system:nodes")
	approved := withCondition(user.DeepCopy(), certv1.CertificateApproved, now)
	denied := withCondition(user.DeepCopy(), certv1.CertificateDenied, now)
	failed := withCondition(approved.DeepCopy(), certv1.CertificateFailed, now)

	tests := []struct {
		name  string
		m     *controller.Manager
		csr   *certv1.CertificateSigningRequest
		whole bool
	}{
		{"pending, signer never auto-approved", m, user, false},
		{"pending kubelet client", m, kubelet, true},
		{"pending kubelet client, approver off", noApprover, kubelet, false},
		{"pending kubelet serving, no inventory", m, serving, false},
		{"pending kubelet serving, inventory", withInventory, serving, true},
		{"approved, to sign", m, approved, true},
		{"approved, no CA for the signer", noSigner, approved, false},
		{"denied", m, denied, false},
		{"failed", m, failed, false},
	}
	for _, tt := range tests {
		if rec := tt.m.IsRecordForTest(tt.csr.DeepCopy()); rec == tt.whole {
			t.Errorf("%s: cached as a record = %v, want %v", tt.name, rec, !tt.whole)
		}
		got := slim(t, tt.m, tt.csr)
		if tt.whole {
			wantWhole(t, tt.name, got, tt.csr)
		} else {
			wantSlim(t, tt.name, got, tt.csr)
		}
	}

	// Issued: the certificate's NotAfter stays known to the cleaner.
	notAfter := now.Add(2 * time.Hour)
	leaf, _ := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "x"}, NotAfter: notAfter})
	issued := withCondition(user.DeepCopy(), certv1.CertificateApproved, notAfter.Add(-30*time.Minute))
	issued.Status.Certificate = pki.MarshalCertificatePEM(leaf)
	got := slim(t, m, issued)
	wantSlim(t, "issued", got, issued)
	if !certificates.HasCertificate(got) || !certificates.IsApproved(got) || len(got.Status.Certificate) >= len(issued.Status.Certificate) {
		t.Errorf("issued CSR slimmed wrongly: certificate %q, conditions %+v", got.Status.Certificate, got.Status.Conditions)
	}
	for _, at := range []time.Time{notAfter.Add(-time.Minute), notAfter.Add(time.Minute), notAfter.Add(2 * time.Hour)} {
		if r, want := controller.CleanupRule(got, at), controller.CleanupRule(issued, at); r != want {
			t.Errorf("at %v: CleanupRule of the slimmed copy = %q, of the full CSR %q", at, r, want)
		}
	}
	if r := controller.CleanupRule(got, notAfter.Add(time.Minute)); r != controller.RuleCertExpired {
		t.Errorf("after expiry: CleanupRule = %q, want %q", r, controller.RuleCertExpired)
	}
	// Pending for more than a day: the cleaner still sees it as pending.
	old := user.DeepCopy()
	old.CreationTimestamp = metav1.NewTime(now.Add(-25 * time.Hour))
	if r := controller.CleanupRule(slim(t, m, old), now); r != controller.RulePending {
		t.Errorf("old pending slimmed: CleanupRule = %q, want %q", r, controller.RulePending)
	}
}

// cached waits until m's cache holds name with a copy satisfying cond.
func cached(t *testing.T, m *controller.Manager, name, what string, cond func(*certv1.CertificateSigningRequest) bool) *certv1.CertificateSigningRequest {
	t.Helper()
	var got *certv1.CertificateSigningRequest
	if !eventually(func() bool {
		c, ok := m.CachedForTest(name)
		got = c
		return ok && cond(c)
	}) {
		t.Fatalf("%s: cached copy not %s within %v (last: %+v)", name, what, waitTimeout, got)
	}
	return got
}

// TestSlimCacheLifecycle runs the controllers against the real server: a
// pending CSR that no rule may approve is cached without its request,
// whether it came in the initial list or by the watch; approving it
// still gets it signed (with resyncs of slimmed copies every 50 ms
// meanwhile); issued, it is cached slim;
// and a kubelet CSR the policy approves keeps its request until issued.
func TestSlimCacheLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jane := e.client("jane", "dev")
	before, _ := userCSR(t, "listed")
	create(t, jane, before)
	m, _ := startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA),
		Logger: logger(newRecorder()), ResyncPeriod: 50 * time.Millisecond})
	after, _ := userCSR(t, "watched")
	create(t, jane, after)

	isSlim := func(c *certv1.CertificateSigningRequest) bool {
		return len(c.Spec.Request) == 0 && c.Spec.Groups == nil && c.Spec.Extra == nil
	}
	for _, name := range []string{"listed", "watched"} {
		c := cached(t, m, name, "slimmed", isSlim)
		if c.Spec.Username != "jane" || c.Spec.SignerName != certificates.SignerKubeAPIServerClient || c.UID == "" {
			t.Errorf("%s: slimmed copy lost name, uid or signer: %+v", name, c)
		}
	}
	for _, name := range []string{"listed", "watched"} {
		approve(t, e.admin, name)
		csr, cert := waitIssued(t, e.admin, name)
		if certificates.IsFailed(csr) || cert.Subject.CommonName != name {
			t.Errorf("%s: issued %v with conditions %+v", name, cert.Subject, csr.Status.Conditions)
		}
		c := cached(t, m, name, "issued and slim", func(c *certv1.CertificateSigningRequest) bool {
			return certificates.HasCertificate(c) && isSlim(c)
		})
		if r := controller.CleanupRule(c, time.Now()); r != "" {
			t.Errorf("%s: fresh issued CSR due for cleaning: %q", name, r)
		}
	}

	// Deleting a CSR cached as a record removes it from the cache.
	if err := e.admin.Delete(t.Context(), "listed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { _, ok := m.CachedForTest("listed"); return !ok }) {
		t.Errorf("listed: still cached %v after its deletion", waitTimeout)
	}

	// A kubelet client CSR the policy approves is never slimmed before it
	// is issued: the approver and then the signer need its request.
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	kubelet, _ := newCSR(t, "kubelet", certificates.SignerKubeAPIServerClientKubelet, node, nil, nil, certv1.UsageDigitalSignature, certv1.UsageClientAuth)
	create(t, e.client("system:node:n1", "system:nodes"), kubelet)
	csr, _ := waitIssued(t, e.admin, "kubelet")
	if c, _ := certificates.Condition(csr, certv1.CertificateApproved); c.Message != certificates.MessageSelfNodeClient {
		t.Errorf("kubelet CSR approved with %q, want %q", c.Message, certificates.MessageSelfNodeClient)
	}
	cached(t, m, "kubelet", "issued and slim", func(c *certv1.CertificateSigningRequest) bool {
		return certificates.HasCertificate(c) && isSlim(c)
	})
}

// TestSlimmedCopyNeverDecided checks the guard behind the transform: a
// signer or approver handed a slimmed copy of a CSR it should act on
// reads the CSR from the API and acts on that, instead of failing it for
// a missing request.
func TestSlimmedCopyNeverDecided(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := newManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(newRecorder())})
	ctx := t.Context()
	slimCopy := func(name string) *certv1.CertificateSigningRequest {
		csr, err := e.admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		csr.Spec.Request, csr.Spec.Groups, csr.Spec.Extra = nil, nil, nil
		return csr
	}

	user, _ := userCSR(t, "user")
	create(t, e.client("jane", "dev"), user)
	approve(t, e.admin, "user")
	if err := m.SignForTest(ctx, slimCopy("user")); err != nil {
		t.Fatalf("sign a slimmed copy: %v", err)
	}
	csr, err := e.admin.Get(ctx, "user", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !certificates.HasCertificate(csr) || certificates.IsFailed(csr) {
		t.Errorf("signer on a slimmed copy: certificate %v, conditions %+v; want issued, not failed",
			certificates.HasCertificate(csr), csr.Status.Conditions)
	}

	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	kubelet, _ := newCSR(t, "kubelet", certificates.SignerKubeAPIServerClientKubelet, node, nil, nil, certv1.UsageDigitalSignature, certv1.UsageClientAuth)
	create(t, e.client("system:node:n1", "system:nodes"), kubelet)
	if err := m.ApproveForTest(ctx, slimCopy("kubelet")); err != nil {
		t.Fatalf("approve a slimmed copy: %v", err)
	}
	csr, err = e.admin.Get(ctx, "kubelet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := certificates.Condition(csr, certv1.CertificateApproved); c.Message != certificates.MessageSelfNodeClient {
		t.Errorf("approver on a slimmed copy: conditions %+v; want approved with %q", csr.Status.Conditions, certificates.MessageSelfNodeClient)
	}

	// A slimmed copy of a CSR deleted meanwhile is dropped without error.
	gone := slimCopy("user")
	if err := e.admin.Delete(ctx, "user", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone.Status.Certificate = nil
	if err := m.SignForTest(context.Background(), gone); err != nil {
		t.Errorf("sign a slimmed copy of a deleted CSR: %v", err)
	}
}

// TestCachedCount checks that CachedCount follows the store: 0 before
// the manager runs, then every created CSR once the informer saw it; and
// that Synced is false before Run and true once the handlers have seen
// the initial list.
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
	if m.Synced() {
		t.Fatal("Synced before Run, want false")
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
	for !m.Synced() {
		if time.Now().After(deadline) {
			t.Fatalf("not Synced after %v", waitTimeout)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}
