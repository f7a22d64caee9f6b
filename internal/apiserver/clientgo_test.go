package apiserver_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

func TestClientGoLifecycle(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	ctx := t.Context()
	alice := srv.Clientset("alice", "dev").CertificatesV1().CertificateSigningRequests()
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()

	in := newCSR(t, "alice-csr", "alice", "dev")
	in.Labels = map[string]string{"team": "blue"}
	in.Spec.Username = "mallory" // must be replaced by the authenticated identity
	in.Spec.Groups = []string{"system:masters"}
	created, err := alice.Create(ctx, in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.Spec.Username != "alice" || created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("Create = username %q uid %q rv %q created %v, want alice and server-set metadata",
			created.Spec.Username, created.UID, created.ResourceVersion, created.CreationTimestamp)
	}
	wantGroups := []string{"dev", "system:authenticated"}
	if len(created.Spec.Groups) != 2 || created.Spec.Groups[0] != wantGroups[0] || created.Spec.Groups[1] != wantGroups[1] {
		t.Errorf("Create groups = %v, want %v", created.Spec.Groups, wantGroups)
	}
	if _, err := alice.Create(ctx, in, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second Create = %v, want AlreadyExists", err)
	}

	w, err := admin.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()

	got, err := admin.Get(ctx, "alice-csr", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got.Status.Conditions = append(got.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test", Message: "approved by test",
	})
	stale := got.DeepCopy()
	approved, err := admin.UpdateApproval(ctx, "alice-csr", got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("UpdateApproval: %v", err)
	}
	if len(approved.Status.Conditions) != 1 || approved.Status.Conditions[0].LastTransitionTime.IsZero() {
		t.Errorf("UpdateApproval conditions = %+v, want one with timestamps", approved.Status.Conditions)
	}
	stale.Labels = map[string]string{"team": "red"}
	if _, err := admin.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("Update with stale resourceVersion = %v, want Conflict", err)
	}
	// Alice may not approve.
	if _, err := alice.UpdateApproval(ctx, "alice-csr", approved, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("UpdateApproval by alice = %v, want Forbidden", err)
	}

	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before the approval was seen")
			}
			csr, isCSR := ev.Object.(*certv1.CertificateSigningRequest)
			if ev.Type == watch.Modified && isCSR && len(csr.Status.Conditions) == 1 {
				seen = true
			}
		case <-deadline:
			t.Fatal("timed out waiting for the MODIFIED event")
		}
	}

	list, err := admin.List(ctx, metav1.ListOptions{LabelSelector: "team=blue", FieldSelector: "spec.signerName=" + certv1.KubeAPIServerClientSignerName})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "alice-csr" {
		t.Errorf("List(team=blue) = %d items, want alice-csr", len(list.Items))
	}
	list, err = admin.List(ctx, metav1.ListOptions{LabelSelector: "team=green"})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("List(team=green) = %v, %v; want no items", list, err)
	}
	if err := admin.Delete(ctx, "alice-csr", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := admin.Get(ctx, "alice-csr", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get after Delete = %v, want NotFound", err)
	}
}

// TestUnconditionalWritesNeverConflict: patches without a resourceVersion
// from many writers at once all succeed, as on kube-apiserver, which
// retries an unconditional update that lost its compare-and-swap.
func TestUnconditionalWritesNeverConflict(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := cs.Create(t.Context(), newCSR(t, "contended", "contended"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 25
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				patch := fmt.Sprintf(`{"metadata":{"labels":{"w%d":"%d"}}}`, w, i)
				if _, err := cs.Patch(t.Context(), "contended", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unconditional patch: %v", err)
	}
	got, err := cs.Get(t.Context(), "contended", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		if v := got.Labels[fmt.Sprintf("w%d", w)]; v != strconv.Itoa(each-1) {
			t.Errorf("label w%d = %q, want %d", w, v, each-1)
		}
	}
}

// TestListResourceVersionMatch: resourceVersion and resourceVersionMatch
// on a list mean what they mean on kube-apiserver: Exact reads the state
// at that revision, NotOlderThan waits for a revision not yet reached and
// then answers 504, and the combinations ValidateListOptions forbids are
// 422.
func TestListResourceVersionMatch(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	first, err := cs.Create(t.Context(), newCSR(t, "rv-first", "rv"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Create(t.Context(), newCSR(t, "rv-second", "rv"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	names := func(l *certv1.CertificateSigningRequestList) []string {
		var out []string
		for _, c := range l.Items {
			out = append(out, c.Name)
		}
		return out
	}
	for _, limit := range []int64{0, 1} {
		l, err := cs.List(t.Context(), metav1.ListOptions{ResourceVersion: first.ResourceVersion,
			ResourceVersionMatch: metav1.ResourceVersionMatchExact, Limit: limit})
		if err != nil {
			t.Fatalf("Exact list at %s: %v", first.ResourceVersion, err)
		}
		if got := names(l); len(got) != 1 || got[0] != "rv-first" || l.ResourceVersion != first.ResourceVersion {
			t.Errorf("Exact list at %s (limit %d) = %v at %s, want [rv-first] at %s", first.ResourceVersion, limit, got, l.ResourceVersion, first.ResourceVersion)
		}
	}
	now, err := cs.List(t.Context(), metav1.ListOptions{ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil || len(now.Items) != 2 {
		t.Fatalf("NotOlderThan %s = %v, %v; want both CSRs", first.ResourceVersion, now, err)
	}
	cur, _ := strconv.ParseInt(now.ResourceVersion, 10, 64)

	// A revision reached while the list waits is served.
	type answer struct {
		list *certv1.CertificateSigningRequestList
		err  error
	}
	waited := make(chan answer, 1)
	go func() {
		l, err := cs.List(t.Context(), metav1.ListOptions{ResourceVersion: strconv.FormatInt(cur+1, 10), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		waited <- answer{l, err}
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := cs.Create(t.Context(), newCSR(t, "rv-third", "rv"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if a := <-waited; a.err != nil || len(a.list.Items) != 3 {
		t.Errorf("NotOlderThan %d, reached while waiting = %v, %v; want the three CSRs", cur+1, a.list, a.err)
	}
	// One never reached is a 504 that says so.
	_, err = cs.List(t.Context(), metav1.ListOptions{ResourceVersion: strconv.FormatInt(cur+100, 10), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != 504 || status.Status().Details == nil ||
		len(status.Status().Details.Causes) != 1 || status.Status().Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge {
		t.Errorf("NotOlderThan a future revision = %v, want 504 ResourceVersionTooLarge", err)
	}
	for _, opts := range []metav1.ListOptions{
		{ResourceVersionMatch: metav1.ResourceVersionMatchExact},
		{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact},
		{ResourceVersion: "1", ResourceVersionMatch: "Newest"},
		{ResourceVersion: "1", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, Continue: "x"},
	} {
		if _, err := cs.List(t.Context(), opts); !apierrors.IsInvalid(err) {
			t.Errorf("List(%+v) = %v, want 422 Invalid", opts, err)
		}
	}
}
