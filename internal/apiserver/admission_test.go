package apiserver_test

import (
	"encoding/json"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// subresourcePolicy lets group "writers" update both subresources without
// approve or sign, and group "approvers" approve example.com/* signers.
func subresourcePolicy() *apiserver.Policy {
	p := apiserver.DefaultPolicy()
	p.ClusterRoles = append(p.ClusterRoles,
		rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "csr-writer"}, Rules: []rbacv1.PolicyRule{{
			Verbs: []string{"get", "list", "watch", "update", "patch"}, APIGroups: []string{"certificates.k8s.io"},
			Resources: []string{"certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"},
		}}},
		rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "example-approver"}, Rules: []rbacv1.PolicyRule{{
			Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"},
			Resources: []string{"signers"}, ResourceNames: []string{"example.com/*"},
		}}})
	p.ClusterRoleBindings = append(p.ClusterRoleBindings,
		rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "writers"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "writers"}, {Kind: "Group", Name: "approvers"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "csr-writer"}},
		rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "approvers"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "approvers"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "example-approver"}})
	return p
}

func approvedCopy(c *certv1.CertificateSigningRequest) *certv1.CertificateSigningRequest {
	c = c.DeepCopy()
	c.Status.Conditions = append(c.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
	return c
}

func TestApprovalAndSigningAdmission(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Policy: subresourcePolicy()})
	ctx := t.Context()
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	writer := srv.Clientset("wendy", "writers").CertificatesV1().CertificateSigningRequests()
	approver := srv.Clientset("abe", "approvers").CertificatesV1().CertificateSigningRequests()

	example := newCSR(t, "example", "x")
	example.Spec.SignerName = "example.com/signer"
	example, err := admin.Create(ctx, example, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := admin.Create(ctx, newCSR(t, "client", "y"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// update on approval without approve on the signer: Forbidden by admission.
	_, err = writer.UpdateApproval(ctx, "example", approvedCopy(example), metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("writer approve = %v, want Forbidden", err)
	}
	// approve on example.com/* covers example.com/signer, not kubernetes.io signers.
	if _, err := approver.UpdateApproval(ctx, "example", approvedCopy(example), metav1.UpdateOptions{}); err != nil {
		t.Errorf("approver approve example.com/signer: %v", err)
	}
	if _, err := approver.UpdateApproval(ctx, "client", approvedCopy(client), metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("approver approve kube-apiserver-client = %v, want Forbidden", err)
	}
	// Status writes that change the certificate need sign.
	cur, err := writer.Get(ctx, "example", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Certificate = srv.CAPEM
	if _, err := writer.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("writer status with certificate = %v, want Forbidden", err)
	}
	// An admin (system:masters via cluster-admin) may sign; the certificate is then immutable.
	cur, err = admin.Get(ctx, "example", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Certificate = srv.CAPEM
	signed, err := admin.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("admin status: %v", err)
	}
	signed.Status.Certificate = append([]byte(nil), signed.Status.Certificate...)
	signed.Status.Certificate = append(signed.Status.Certificate, srv.CAPEM...)
	if _, err := admin.UpdateStatus(ctx, signed, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("replacing the certificate = %v, want Invalid", err)
	}
	// The main resource ignores status and spec changes.
	main := signed.DeepCopy()
	main.ResourceVersion = ""
	main.Status.Certificate = nil
	main.Spec.Usages = []certv1.KeyUsage{certv1.UsageServerAuth}
	main.Labels = map[string]string{"kept": "yes"}
	upd, err := admin.Update(ctx, main, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("main update: %v", err)
	}
	if len(upd.Status.Certificate) == 0 || upd.Spec.Usages[0] != certv1.UsageClientAuth || upd.Labels["kept"] != "yes" {
		t.Errorf("main update = certificate %d bytes, usages %v, labels %v; want only the label changed",
			len(upd.Status.Certificate), upd.Spec.Usages, upd.Labels)
	}
}

func TestPatchesDeleteAndCollections(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	ctx := t.Context()
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for _, n := range []string{"p1", "p2", "p3"} {
		c := newCSR(t, n, n)
		c.Labels = map[string]string{"set": "a"}
		if _, err := cs.Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cs.Patch(ctx, "p1", types.JSONPatchType, []byte(`[{"op":"add","path":"/metadata/labels/j","value":"1"}]`), metav1.PatchOptions{})
	if err != nil || got.Labels["j"] != "1" {
		t.Errorf("JSON patch = %v, %v", got.Labels, err)
	}
	got, err = cs.Patch(ctx, "p1", types.MergePatchType, []byte(`{"metadata":{"labels":{"m":"2"}},"spec":{"signerName":"evil.com/x"}}`), metav1.PatchOptions{})
	if err != nil || got.Labels["m"] != "2" || got.Spec.SignerName != certv1.KubeAPIServerClientSignerName {
		t.Errorf("merge patch = %v %q, %v; want the label only", got.Labels, got.Spec.SignerName, err)
	}
	got, err = cs.Patch(ctx, "p1", types.StrategicMergePatchType, []byte(`{"metadata":{"annotations":{"s":"3"}}}`), metav1.PatchOptions{})
	if err != nil || got.Annotations["s"] != "3" {
		t.Errorf("strategic merge patch = %v, %v", got.Annotations, err)
	}
	// Approve through a patch of the approval subresource.
	cond, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]any{
		{"type": "Approved", "status": "True", "reason": "Patched"}}}})
	got, err = cs.Patch(ctx, "p1", types.MergePatchType, cond, metav1.PatchOptions{}, "approval")
	if err != nil || len(got.Status.Conditions) != 1 || got.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Errorf("approval patch = %+v, %v", got.Status.Conditions, err)
	}
	// A patch naming a stale resourceVersion conflicts.
	if _, err := cs.Patch(ctx, "p2", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1","labels":{"x":"y"}}}`), metav1.PatchOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("patch with stale resourceVersion = %v, want Conflict", err)
	}
	if _, err := cs.Patch(ctx, "nope", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing CSR = %v, want NotFound", err)
	}
	// Delete preconditions.
	p2, err := cs.Get(ctx, "p2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := "1"
	if err := cs.Delete(ctx, "p2", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}); !apierrors.IsConflict(err) {
		t.Errorf("delete with stale resourceVersion = %v, want Conflict", err)
	}
	wrongUID := types.UID("wrong")
	if err := cs.Delete(ctx, "p2", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}}); !apierrors.IsConflict(err) {
		t.Errorf("delete with wrong UID = %v, want Conflict", err)
	}
	if err := cs.Delete(ctx, "p2", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p2.UID, ResourceVersion: &p2.ResourceVersion}}); err != nil {
		t.Errorf("delete with matching preconditions: %v", err)
	}
	// deletecollection by label; dry run first.
	if err := cs.DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{"All"}}, metav1.ListOptions{LabelSelector: "set=a"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := cs.List(ctx, metav1.ListOptions{}); len(l.Items) != 2 {
		t.Errorf("after dry-run deletecollection %d CSRs, want 2", len(l.Items))
	}
	if err := cs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "set=a"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := cs.List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("after deletecollection %d CSRs, want 0", len(l.Items))
	}
}
