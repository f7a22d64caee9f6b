package apiserver_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestKubectlDeleteWaitsForFinalizers: a CSR with a finalizer is marked,
// not removed; kubectl delete waits, as against kube-apiserver, until an
// update removes the last finalizer, which removes the CSR.
func TestKubectlDeleteWaitsForFinalizers(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	manifest := filepath.Join(t.TempDir(), "held.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest("held", csrPEM(t, "held"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.ok(admin, "create", "-f", manifest)
	kubectl.ok(admin, "patch", "csr", "held", "--type=merge", "-p", `{"metadata":{"finalizers":["example.com/hold"]}}`)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	before, err := cs.Get(t.Context(), "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=held", ResourceVersion: before.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// kubectl's own wait gives up while the finalizer holds the CSR.
	_, errOut, code := kubectl.run(admin, "delete", "csr", "held", "--timeout=2s")
	if code != 1 || !strings.Contains(errOut, "timed out waiting for the condition") {
		t.Errorf("delete of a held CSR = exit %d, %q; want kubectl's timeout", code, errOut)
	}
	marked, err := cs.Get(t.Context(), "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the held CSR is gone: %v", err)
	}
	if marked.DeletionTimestamp == nil || marked.DeletionGracePeriodSeconds == nil || *marked.DeletionGracePeriodSeconds != 0 {
		t.Fatalf("held CSR: deletionTimestamp %v, grace %v; want both set", marked.DeletionTimestamp, marked.DeletionGracePeriodSeconds)
	}
	// A second delete changes nothing.
	kubectl.run(admin, "delete", "csr", "held", "--wait=false")
	again, err := cs.Get(t.Context(), "held", metav1.GetOptions{})
	if err != nil || again.ResourceVersion != marked.ResourceVersion {
		t.Errorf("second delete: %v, rv %s; want the same object at rv %s", err, again.ResourceVersion, marked.ResourceVersion)
	}
	// No new finalizer while deleting; clients cannot clear the mark.
	_, err = cs.Patch(t.Context(), "held", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "no new finalizers can be added if the object is being deleted") {
		t.Errorf("adding a finalizer while deleting = %v; want 422", err)
	}
	_, err = cs.Patch(t.Context(), "held", types.MergePatchType,
		[]byte(`{"metadata":{"deletionTimestamp":null,"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.Get(t.Context(), "held", metav1.GetOptions{}); got == nil || got.DeletionTimestamp == nil {
		t.Errorf("a patch cleared deletionTimestamp: %+v", got)
	}

	// kubectl delete waits; removing the finalizer ends it.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	waiting := kubectl.cmd(ctx, admin, "delete", "csr", "held", "--timeout=50s")
	waiting.Stdout, waiting.Stderr = &out, &stderr
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let kubectl reach its wait; the result is the same if it has not
	kubectl.ok(admin, "patch", "csr", "held", "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	if err := waiting.Wait(); err != nil {
		t.Errorf("kubectl delete after the finalizer went: %v\n%s%s", err, out.String(), stderr.String())
	}
	if _, err := cs.Get(t.Context(), "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after the last finalizer went = %v; want NotFound", err)
	}
	// The watch saw the mark, the label, then the removal.
	var types []watch.EventType
	timeout := time.After(10 * time.Second)
	for len(types) < 3 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %v", types)
			}
			types = append(types, ev.Type)
		case <-timeout:
			t.Fatalf("watch events = %v; want MODIFIED MODIFIED DELETED", types)
		}
	}
	if want := []watch.EventType{watch.Modified, watch.Modified, watch.Deleted}; !slices.Equal(types, want) {
		t.Errorf("watch events = %v, want %v", types, want)
	}
}

// TestKubectlPatchAndPathErrors: the codes kube-apiserver gives a JSON
// patch that does not apply (422) and a path it does not serve (404,
// kubectl's "could not find the requested resource").
func TestKubectlPatchAndPathErrors(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	manifest := filepath.Join(t.TempDir(), "pat.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest("pat", csrPEM(t, "pat"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.ok(admin, "create", "-f", manifest)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	before, err := cs.Get(t.Context(), "pat", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, patch := range []string{
		`[{"op":"test","path":"/metadata/labels/team","value":"red"}]`,
		`[{"op":"remove","path":"/metadata/annotations/nope"}]`,
	} {
		_, errOut, code := kubectl.run(admin, "patch", "csr", "pat", "--type=json", "-p", patch)
		if code != 1 || !strings.Contains(errOut, "The request is invalid") {
			t.Errorf("patch %s = exit %d, %q; want kubectl's 422 message", patch, code, errOut)
		}
		_, err := cs.Patch(t.Context(), "pat", types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != 422 || status.Status().Reason != metav1.StatusReasonInvalid {
			t.Errorf("patch %s = %v; want 422 Invalid", patch, err)
		}
	}
	after, err := cs.Get(t.Context(), "pat", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("failed patches changed the CSR: %v, rv %s -> %s", err, before.ResourceVersion, after.ResourceVersion)
	}
	for _, path := range []string{"/foo", "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests", "/apis/example.com/v1/things"} {
		_, errOut, code := kubectl.run(admin, "get", "--raw", path)
		if code != 1 || !strings.Contains(errOut, "Error from server (NotFound): the server could not find the requested resource") {
			t.Errorf("get --raw %s = exit %d, %q", path, code, errOut)
		}
	}
}
