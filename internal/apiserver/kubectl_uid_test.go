package apiserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestKubectlStaleUID checks what kube-apiserver answers for a manifest of
// an earlier object of the same name (a backup restored after a delete):
// a patch carries no uid precondition, so a patched uid is a change of an
// immutable field, 422, which kubectl diff and patch report at once; a
// replace (PUT) makes its uid a precondition, 409.
func TestKubectlStaleUID(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "nora.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest("nora", csrPEM(t, "nora"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.ok(admin, "create", "-f", manifest)
	oldUID := kubectl.ok(admin, "get", "csr", "nora", "-o", "jsonpath={.metadata.uid}")
	backup := filepath.Join(dir, "backup.yaml")
	if err := os.WriteFile(backup, []byte(kubectl.ok(admin, "get", "csr", "nora", "-o", "yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl.ok(admin, "delete", "csr", "nora")
	kubectl.ok(admin, "create", "-f", manifest)

	wantInvalid := `The CertificateSigningRequest "nora" is invalid: metadata.uid: Invalid value: "` + oldUID + `": field is immutable`
	_, errOut, code := kubectl.run(admin, "patch", "csr", "nora", "--type=merge", "-p", `{"metadata":{"uid":"`+oldUID+`"}}`)
	if code != 1 || strings.TrimSpace(errOut) != wantInvalid {
		t.Errorf("patch of the old uid = exit %d, %q; want exit 1 and %q", code, errOut, wantInvalid)
	}
	// kubectl diff patches with the live resourceVersion and retries
	// conflicts ten times, with growing pauses, before giving up.
	_, errOut, code = kubectl.run(admin, "diff", "-f", backup)
	if code <= 1 || !strings.Contains(errOut, wantInvalid) || strings.Contains(errOut, "keeps changing") {
		t.Errorf("diff of the backup = exit %d, %q; want an error with %q and no retries", code, errOut, wantInvalid)
	}
	_, errOut, code = kubectl.run(admin, "replace", "-f", backup)
	if code != 1 || !strings.Contains(errOut, "Error from server (Conflict)") {
		t.Errorf("replace with the backup = exit %d, %q; want Conflict", code, errOut)
	}
	if got := kubectl.ok(admin, "get", "csr", "nora", "-o", "jsonpath={.metadata.uid}"); got == oldUID || got == "" {
		t.Errorf("uid after the refused writes = %q, want the new object's", got)
	}
}
