package controller_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// reservedByGhost creates and approves a CSR and reserves it for a signer
// ("ghost") that then dies without storing a certificate.
func reservedByGhost(t *testing.T, e *env, name string) {
	t.Helper()
	ghost, err := controller.New(controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Identity: "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := userCSR(t, name)
	create(t, e.admin, in)
	approve(t, e.admin, name)
	csr, err := e.ctrl.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ghost.ReserveForTest(context.Background(), csr, "dead"); err != nil {
		t.Fatal(err)
	}
}

// TestStaleReservationTakenOver: without an elector, a dead signer's
// reservation is respected until ReservationTimeout, then taken over, and
// the CSR is issued once.
func TestStaleReservationTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reservedByGhost(t, e, "orphan")
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec),
		ReservationTimeout: time.Second, DisableCleaner: true})
	csr, cert := waitIssued(t, e.admin, "orphan")
	c, _ := certificates.Condition(csr, controller.ConditionIssuing)
	if want := "issued serial " + cert.SerialNumber.Text(16); c.Reason != controller.ReasonIssued || c.Message != want {
		t.Errorf("Issuing condition = %q/%q, want %q/%q", c.Reason, c.Message, controller.ReasonIssued, want)
	}
	if n := rec.count("taking over a reservation", "orphan"); n != 1 {
		t.Errorf("takeover logged %d times, want 1", n)
	}
}

// TestLeaderTakesOverPreviousLeadersReservation: under an elector a
// reservation by another holder belongs to an earlier leader, which
// stopped before this term: it is taken over at once, however fresh.
func TestLeaderTakesOverPreviousLeadersReservation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reservedByGhost(t, e, "inherited")
	cluster := etcdtest.Start(t, etcdtest.Options{})
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec),
		Identity: "leader", Elector: newElector(t, etcdClient(t, cluster.Endpoints()...), "leader", 2*time.Second),
		ReservationTimeout: time.Hour, DisableCleaner: true})
	waitIssued(t, e.admin, "inherited")
	if n := rec.count("taking over a reservation", "inherited"); n != 1 {
		t.Errorf("takeover logged %d times, want 1", n)
	}
}
