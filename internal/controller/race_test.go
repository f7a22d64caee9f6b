package controller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
)

// TestTwoSignersIssueOnce runs two Managers, without an elector, on one
// server, one on the LocalClient and one over HTTPS: every approved CSR gets exactly one certificate, and the CA key
// signs exactly once per CSR.
func TestTwoSignersIssueOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	recA, recB := newRecorder(), newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(recA), Identity: "a", DisableCleaner: true})
	startManager(t, controller.Config{Client: e.ctrlHTTPS, Signers: controller.SameCA(e.srv.CA), Logger: logger(recB), Identity: "b", DisableCleaner: true})

	const n = 40
	keys := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		name := fmt.Sprintf("race-%02d", i)
		in, key := userCSR(t, name)
		keys[i] = key.Public()
		create(t, e.admin, in)
		wg.Go(func() { approve(t, e.admin, name) })
	}
	wg.Wait()
	for i := range n {
		name := fmt.Sprintf("race-%02d", i)
		_, cert := waitIssued(t, e.admin, name)
		if !pki.PublicKeysEqual(cert.PublicKey, keys[i]) {
			t.Errorf("%s: certificate for another key", name)
		}
		var signed, issued int
		eventually(func() bool {
			signed = recA.count("csr signed", name) + recB.count("csr signed", name)
			issued = recA.count("certificate issued", name) + recB.count("certificate issued", name)
			return issued >= 1
		})
		if signed != 1 || issued != 1 {
			t.Errorf("%s: signed %d times, issued %d times; want 1 and 1", name, signed, issued)
		}
	}
	t.Logf("signer a issued %d, b issued %d", recA.count("certificate issued", ""), recB.count("certificate issued", ""))
}

// TestApprovalRacesDeleteAndRecreate approves CSRs while deleting and
// recreating them under the same name with a new key: a certificate is
// only ever for the key of the object that holds it, and a recreated CSR
// is issued only after its own approval.
func TestApprovalRacesDeleteAndRecreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(newRecorder()), DisableCleaner: true})
	ctx := t.Context()
	const rounds = 15
	for i := range rounds {
		name := fmt.Sprintf("recreate-%02d", i)
		first, _ := userCSR(t, name)
		create(t, e.admin, first)
		approve(t, e.admin, name)
		// Delete at once, racing the signer, then recreate with a new key.
		if err := e.admin.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("Delete %s: %v", name, err)
		}
		second, key := userCSR(t, name)
		create(t, e.admin, second)
		got, err := e.admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if certificates.HasCertificate(got) || !certificates.IsPending(got) {
			t.Fatalf("%s: recreated CSR is not pending without certificate: %+v", name, got.Status)
		}
		approve(t, e.admin, name)
		_, cert := waitIssued(t, e.admin, name)
		if !pki.PublicKeysEqual(cert.PublicKey, key.Public()) {
			t.Fatalf("%s: recreated CSR received a certificate for the deleted request's key", name)
		}
	}
}

// TestStoreDiscardsForRecreatedCSR drives the store step directly: a
// certificate signed for a reservation is never written into a CSR that
// was deleted and recreated under the same name.
func TestStoreDiscardsForRecreatedCSR(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	m, err := controller.New(controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), Identity: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, _ := userCSR(t, "victim")
	create(t, e.admin, in)
	approve(t, e.admin, "victim")
	old, err := e.ctrl.Get(ctx, "victim", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reserved, err := m.ReserveForTest(ctx, old, "abc")
	if err != nil {
		t.Fatalf("reserveCSR: %v", err)
	}
	// Someone deletes and recreates the CSR, and approves the new one.
	if err := e.admin.Delete(ctx, "victim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _ := userCSR(t, "victim")
	create(t, e.admin, again)
	approve(t, e.admin, "victim")

	leaf, _ := pkitestLeaf(t, e)
	if err := m.StoreForTest(ctx, reserved, "abc", pki.MarshalCertificatePEM(leaf)); err != nil {
		t.Fatalf("store: %v", err)
	}
	got, err := e.admin.Get(ctx, "victim", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if certificates.HasCertificate(got) {
		t.Fatal("the old reservation's certificate was written into the recreated CSR")
	}
	if rec.count("signed certificate discarded", "victim") != 1 {
		t.Error("discarding was not logged")
	}
	// A second reservation attempt on the stale object conflicts.
	if _, err := m.ReserveForTest(ctx, old, "def"); !isConflict(err) {
		t.Errorf("reserveCSR on a stale object = %v, want Conflict", err)
	}
}

// TestSignerStoresPendingCertificate: a certificate signed for a
// reservation but not stored (the store failed) is stored on the next
// pass, even from a cache that does not show the reservation yet, and the
// CA key is not used again.
func TestSignerStoresPendingCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	m, err := controller.New(controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), Identity: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, _ := userCSR(t, "pending-store")
	create(t, e.admin, in)
	approve(t, e.admin, "pending-store")
	stale, err := e.ctrl.Get(ctx, "pending-store", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReserveForTest(ctx, stale, "s1"); err != nil {
		t.Fatal(err)
	}
	leaf, _ := pkitestLeaf(t, e)
	m.AddPendingForTest(stale, "s1", pki.MarshalCertificatePEM(leaf))
	if err := m.SignForTest(ctx, stale); err != nil {
		t.Fatalf("sign: %v", err)
	}
	got, err := e.admin.Get(ctx, "pending-store", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(got.Status.Certificate)
	if err != nil {
		t.Fatalf("no certificate stored: %v", err)
	}
	if cert.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("the stored certificate is not the pending one")
	}
	if n := rec.count("csr signed", ""); n != 0 {
		t.Errorf("the CA key signed %d times, want 0", n)
	}
}
