package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestPendingQuotaPerUser: a requester outside system:masters may have at
// most MaxPendingPerUser pending CSRs; one more is 403 Forbidden, also as
// a dry run, and stores nothing; approving, denying or deleting one frees
// a place; other users and system:masters are not limited by it; a
// second server on the same store (a replica) counts the same from its
// own list.
func TestPendingQuotaPerUser(t *testing.T) {
	t.Parallel()
	t.Run("default watch", func(t *testing.T) { t.Parallel(); testPendingQuota(t, 0) })
	// Watches that end every 100 ms: the index watches again from where
	// it was and still counts every event.
	t.Run("short watches", func(t *testing.T) { t.Parallel(); testPendingQuota(t, 100*time.Millisecond) })
}

func testPendingQuota(t *testing.T, watchDuration time.Duration) {
	const limit = 3
	limited := func(c *apiserver.Config) { c.MaxPendingPerUser, c.MaxWatchDuration = limit, watchDuration }
	srv := apiservertest.Start(t, apiservertest.Options{Configure: limited})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	csrs := func(user string, groups ...string) certv1client.CertificateSigningRequestInterface {
		return srv.Clientset(user, groups...).CertificatesV1().CertificateSigningRequests()
	}
	mallory, bob, admin := csrs("mallory"), csrs("bob"), csrs(apiservertest.AdminUser, apiservertest.AdminGroup)
	root := csrs("root", apiserver.GroupMasters)

	n := 0
	create := func(c certv1client.CertificateSigningRequestInterface, dry bool) error {
		n++
		obj := newCSR(t, fmt.Sprintf("q-%d", n), "whoever")
		opts := metav1.CreateOptions{}
		if dry {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := c.Create(ctx, obj, opts)
		return err
	}
	// refusedSoon waits until the index counts what was created: a create
	// is refused, within a bounded time. Creates that pass before that
	// are deleted again.
	refusedSoon := func(c certv1client.CertificateSigningRequestInterface, who string) error {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n++
			name := fmt.Sprintf("q-%d", n)
			_, err := c.Create(ctx, newCSR(t, name, "whoever"), metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if err := admin.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never refused beyond the limit", who)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range limit {
		if err := create(mallory, false); err != nil {
			t.Fatalf("create %d of %d: %v", i+1, limit, err)
		}
	}
	err := refusedSoon(mallory, "mallory")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `user "mallory" has 3 pending CertificateSigningRequests`) ||
		!strings.Contains(err.Error(), "--max-pending-csrs-per-user") {
		t.Fatalf("create beyond the limit: %v; want 403 naming the user, the count and the flag", err)
	}
	if err := create(mallory, true); !apierrors.IsForbidden(err) {
		t.Errorf("dry-run create beyond the limit: %v, want 403", err)
	}
	list, err := admin.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, c := range list.Items {
		if c.Spec.Username == "mallory" {
			mine++
		}
	}
	if mine != limit {
		t.Fatalf("mallory has %d CSRs stored, want %d", mine, limit)
	}

	// Other users, and system:masters beyond the limit, are not limited.
	if err := create(bob, false); err != nil {
		t.Errorf("bob: %v", err)
	}
	for i := range limit + 2 {
		if err := create(root, false); err != nil {
			t.Fatalf("system:masters create %d: %v", i+1, err)
		}
	}

	// Approving, denying or deleting one of mallory's frees a place.
	decide := func(name string, typ certv1.RequestConditionType) {
		t.Helper()
		csr, err := admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
			Type: typ, Status: corev1.ConditionTrue, Reason: "Test",
		})
		if _, err := admin.UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	freed := func(how string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := create(mallory, false)
			if err == nil {
				break
			}
			if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
				t.Fatalf("after %s: %v", how, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := refusedSoon(mallory, "mallory after "+how); !apierrors.IsForbidden(err) {
			t.Fatalf("after %s, create beyond the limit again: %v", how, err)
		}
	}
	decide("q-1", certv1.CertificateApproved)
	freed("an approval")
	decide("q-2", certv1.CertificateDenied)
	freed("a denial")
	if err := admin.Delete(ctx, "q-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	freed("a delete")

	// A second server on the same store counts from its own list.
	replica := apiservertest.Start(t, apiservertest.Options{Store: srv.Store, Configure: limited})
	other := replica.Clientset("mallory").CertificatesV1().CertificateSigningRequests()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n++
		_, err := other.Create(ctx, newCSR(t, fmt.Sprintf("q-%d", n), "whoever"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the replica never refused mallory: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
