package apiserver_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// ignoreTypeMeta compares objects as client-go hands them out: typed
// clients clear the kind and apiVersion of what they decode, list items
// never carry them.
var ignoreTypeMeta = cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion")

func localClient(t *testing.T, srv *apiservertest.Server) certv1client.CertificateSigningRequestInterface {
	t.Helper()
	c, err := srv.API.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLocalClientMatchesHTTP checks that the in-process client answers
// exactly what the same request over HTTPS answers, errors included.
func TestLocalClientMatchesHTTP(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	remote := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	local := localClient(t, srv)
	ctx := t.Context()
	for i := range 5 {
		c := newCSR(t, fmt.Sprintf("local-%d", i), "local")
		c.Labels = map[string]string{"even": fmt.Sprint(i%2 == 0)}
		if _, err := remote.Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := local.Get(ctx, "local-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := remote.Get(ctx, "local-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, ignoreTypeMeta); d != "" {
		t.Errorf("local Get differs from HTTPS (-https +local):\n%s", d)
	}

	for _, opts := range []metav1.ListOptions{
		{},
		{LabelSelector: "even=true"},
		{FieldSelector: "metadata.name=local-3"},
		{FieldSelector: "spec.signerName=" + certv1.KubeAPIServerClientSignerName, Limit: 2},
	} {
		l, err := local.List(ctx, opts)
		if err != nil {
			t.Fatalf("local List %+v: %v", opts, err)
		}
		r, err := remote.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, l, ignoreTypeMeta); d != "" {
			t.Errorf("local List %+v differs from HTTPS (-https +local):\n%s", opts, d)
		}
		if opts.Limit == 2 && (len(l.Items) != 2 || l.Continue == "") {
			t.Errorf("local List with limit 2 = %d items, continue %q; want 2 and a token", len(l.Items), l.Continue)
		}
	}
	if _, err := local.List(ctx, metav1.ListOptions{FieldSelector: "status.phase=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("local List with an unsupported field = %v, want 400", err)
	}

	// Approval: a stale resourceVersion conflicts, a dry run writes
	// nothing, a real one is what HTTPS reads back.
	approved := got.DeepCopy()
	approved.Status.Conditions = append(approved.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "LocalTest", Message: "approved in-process",
	})
	stale := approved.DeepCopy()
	stale.ResourceVersion = "1"
	if _, err := local.UpdateApproval(ctx, stale.Name, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("UpdateApproval with a stale resourceVersion = %v, want 409 Conflict", err)
	}
	if _, err := local.UpdateApproval(ctx, "local-2", approved, metav1.UpdateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("UpdateApproval under another name = %v, want 400", err)
	}
	dry, err := local.UpdateApproval(ctx, approved.Name, approved, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if dry.ResourceVersion != got.ResourceVersion {
		t.Errorf("dry-run approval moved the resourceVersion from %s to %s", got.ResourceVersion, dry.ResourceVersion)
	}
	out, err := local.UpdateApproval(ctx, approved.Name, approved, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := remote.Get(ctx, approved.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(back, out, ignoreTypeMeta); d != "" {
		t.Errorf("UpdateApproval's answer differs from what HTTPS reads back (-https +local):\n%s", d)
	}

	// Status: the Kubernetes rules hold in-process too.
	bad := out.DeepCopy()
	bad.Status.Certificate = []byte("not a certificate")
	if _, err := local.UpdateStatus(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("UpdateStatus with a non-PEM certificate = %v, want 422 Invalid", err)
	}

	// Errors by name.
	if _, err := local.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing CSR = %v, want 404", err)
	}
	for _, name := range []string{"", "a/b", ".."} {
		if _, err := local.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsBadRequest(err) {
			t.Errorf("Get(%q) = %v, want 400", name, err)
		}
	}

	// Delete honours preconditions.
	wrong := types.UID("not-the-uid")
	if err := local.Delete(ctx, "local-4", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}}); !apierrors.IsConflict(err) {
		t.Errorf("Delete with a wrong UID precondition = %v, want 409", err)
	}
	if err := local.Delete(ctx, "local-4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Get(ctx, "local-4", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get after the local Delete = %v, want 404", err)
	}
}

// nextEvent reads one event of w within a deadline.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event within 30s")
	}
	return watch.Event{}
}

func eventName(ev watch.Event) string {
	if csr, ok := ev.Object.(*certv1.CertificateSigningRequest); ok {
		return string(ev.Type) + " " + csr.Name
	}
	return string(ev.Type)
}

func TestLocalWatch(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	remote := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	local := localClient(t, srv)
	ctx := t.Context()
	for i := range 3 {
		if _, err := remote.Create(ctx, newCSR(t, fmt.Sprintf("lw-%d", i), "lw"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The legacy form: the current objects as ADDED, then the changes.
	all, err := local.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Stop()
	// WatchList, as client-go's informers may ask: the initial events and
	// a bookmark marking their end.
	listWatch, err := local.Watch(ctx, metav1.ListOptions{
		SendInitialEvents: new(true), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer listWatch.Stop()
	one, err := local.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=lw-3"})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Stop()

	var got []string
	for range 3 {
		got = append(got, eventName(nextEvent(t, all)))
	}
	if d := cmp.Diff([]string{"ADDED lw-0", "ADDED lw-1", "ADDED lw-2"}, got); d != "" {
		t.Errorf("initial events (-want +got):\n%s", d)
	}
	got = nil
	for range 3 {
		got = append(got, eventName(nextEvent(t, listWatch)))
	}
	end := nextEvent(t, listWatch)
	bm, _ := end.Object.(*certv1.CertificateSigningRequest)
	if end.Type != watch.Bookmark || bm == nil || bm.Annotations[metav1.InitialEventsAnnotationKey] != "true" || bm.ResourceVersion == "" {
		t.Errorf("after the initial events: %s %+v, want a BOOKMARK with %s", end.Type, end.Object, metav1.InitialEventsAnnotationKey)
	}

	c, err := remote.Create(ctx, newCSR(t, "lw-3", "lw"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Status.Conditions = []certv1.CertificateSigningRequestCondition{{
		Type: certv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "LocalTest",
	}}
	if _, err := remote.UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ADDED lw-3", "MODIFIED lw-3", "DELETED lw-3"}
	for _, w := range []watch.Interface{all, one} {
		got = nil
		for range 3 {
			ev := nextEvent(t, w)
			if ev.Type == watch.Bookmark {
				continue
			}
			got = append(got, eventName(ev))
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("events of the changes (-want +got):\n%s", d)
		}
	}
	denied := nextEvent(t, listWatch)
	for denied.Type == watch.Bookmark {
		denied = nextEvent(t, listWatch)
	}
	if csr, _ := denied.Object.(*certv1.CertificateSigningRequest); denied.Type != watch.Added || csr == nil || csr.ResourceVersion != c.ResourceVersion {
		t.Errorf("WatchList's first change = %s, want ADDED lw-3 at %s", eventName(denied), c.ResourceVersion)
	}

	// Stop closes the channel.
	one.Stop()
	deadline := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case _, ok := <-one.ResultChan():
			done = !ok
		case <-deadline:
			t.Fatal("Stop did not close the watch's channel within 30s")
		}
	}

	if _, err := local.Watch(ctx, metav1.ListOptions{SendInitialEvents: new(true)}); !apierrors.IsBadRequest(err) {
		t.Errorf("sendInitialEvents without resourceVersionMatch = %v, want 400", err)
	}
}

// TestLocalAudit checks that in-process writes leave the same audit line
// as writes over HTTP, with the controller identity.
func TestLocalAudit(t *testing.T) {
	t.Parallel()
	var logs lockedWriter
	srv := apiservertest.Start(t, apiservertest.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	remote := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	c, err := remote.Create(t.Context(), newCSR(t, "audited", "x"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Status.Conditions = []certv1.CertificateSigningRequestCondition{{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "LocalTest",
	}}
	local := localClient(t, srv)
	if _, err := local.UpdateApproval(t.Context(), c.Name, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := local.Delete(t.Context(), "missing", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Delete of a missing CSR = %v, want 404", err)
	}
	var approve, missing bool
	waitFor(t, "the audit lines of the local writes", func() bool {
		for _, l := range logs.lines() {
			if l["msg"] != "audit" || l["user"] != apiserver.UserKubeControllerManager || l["userAgent"] != "kubepki-local" {
				continue
			}
			approve = approve || (l["verb"] == "update" && l["resource"] == "certificatesigningrequests/approval" &&
				l["name"] == "audited" && l["code"] == float64(200) && l["outcome"] == "allowed")
			missing = missing || (l["verb"] == "delete" && l["name"] == "missing" && l["code"] == float64(404) && l["outcome"] == "failed")
		}
		return approve && missing
	})
}

// TestWatchesShareEvents checks that watches sharing one decoded store
// event each get the object as stored: a local watcher that changes what
// it received changes nothing another watch sends, in any format.
func TestWatchesShareEvents(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup)
	remote := admin.CertificatesV1().CertificateSigningRequests()
	local := localClient(t, srv)
	ctx := t.Context()
	before, err := remote.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := local.Watch(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Stop()
	created, err := remote.Create(ctx, newCSR(t, "shared", "shared-user"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, lw)
	got, _ := ev.Object.(*certv1.CertificateSigningRequest)
	if ev.Type != watch.Added || got == nil || got.Name != "shared" || got.Kind != "" {
		t.Fatalf("local event = %s %+v, want ADDED shared without a kind, as client-go decodes it", ev.Type, ev.Object)
	}
	got.Spec.Username = "changed-by-the-receiver"
	got.Labels = map[string]string{"changed": "true"}

	// Watches started later replay the same store event.
	protoWatch, err := remote.Watch(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer protoWatch.Stop()
	jsonCfg := srv.AdminConfig()
	jsonCfg.ContentType = "application/json"
	jsonCS, err := kubernetes.NewForConfig(jsonCfg)
	if err != nil {
		t.Fatal(err)
	}
	jsonWatch, err := jsonCS.CertificatesV1().CertificateSigningRequests().Watch(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer jsonWatch.Stop()
	lw2, err := local.Watch(ctx, metav1.ListOptions{ResourceVersion: before.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer lw2.Stop()
	for name, w := range map[string]watch.Interface{"protobuf": protoWatch, "json": jsonWatch, "local": lw2} {
		ev := nextEvent(t, w)
		csr, _ := ev.Object.(*certv1.CertificateSigningRequest)
		if ev.Type != watch.Added || csr == nil {
			t.Fatalf("%s watch: %s %+v, want ADDED", name, ev.Type, ev.Object)
		}
		if d := cmp.Diff(created, csr, ignoreTypeMeta); d != "" {
			t.Errorf("%s watch sent another object than the one created (-created +sent):\n%s", name, d)
		}
	}
}
