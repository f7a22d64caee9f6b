package apiserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

func TestKubectlApplyLabelAndReviews(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "carol.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest("carol", csrPEM(t, "carol"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}

	// Client-side apply: create, unchanged, configured.
	if out := kubectl.ok(admin, "apply", "-f", manifest); !strings.Contains(out, "carol created") {
		t.Errorf("first apply = %q, want created", out)
	}
	if out := kubectl.ok(admin, "apply", "-f", manifest); !strings.Contains(out, "carol unchanged") {
		t.Errorf("second apply = %q, want unchanged", out)
	}
	changed := strings.Replace(csrManifest("carol", csrPEM(t, "carol"), "example.com/signer"), "team: blue", "team: green", 1)
	// The spec is immutable: only the label change is kept.
	if err := os.WriteFile(manifest, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl.ok(admin, "apply", "-f", manifest); !strings.Contains(out, "carol configured") {
		t.Errorf("changed apply = %q, want configured", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "-l", "team=green", "-o", "name"); strings.TrimSpace(out) != "certificatesigningrequest.certificates.k8s.io/carol" {
		t.Errorf("get -l team=green = %q", out)
	}
	// Server-side apply on the existing object.
	if out := kubectl.ok(admin, "apply", "--server-side", "-f", manifest); !strings.Contains(out, "serverside-applied") {
		t.Errorf("apply --server-side = %q", out)
	}
	// Server-side apply creating a new one.
	dave := filepath.Join(dir, "dave.yaml")
	if err := os.WriteFile(dave, []byte(csrManifest("dave", csrPEM(t, "dave"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl.ok(admin, "apply", "--server-side", "-f", dave); !strings.Contains(out, "dave serverside-applied") {
		t.Errorf("apply --server-side (new) = %q", out)
	}
	kubectl.ok(admin, "label", "csr", "dave", "tier=gold")
	kubectl.ok(admin, "annotate", "csr", "dave", "note=hello")
	yamlOut := kubectl.ok(admin, "get", "csr", "dave", "-o", "yaml")
	for _, want := range []string{"kind: CertificateSigningRequest", "apiVersion: certificates.k8s.io/v1", "tier: gold", "note: hello", "username: " + apiservertest.AdminUser} {
		if !strings.Contains(yamlOut, want) {
			t.Errorf("get -o yaml lacks %q:\n%s", want, yamlOut)
		}
	}
	if out := kubectl.ok(admin, "get", "csr", "-L", "tier"); !rowHas(out, "dave", "gold") {
		t.Errorf("get -L tier = %q", out)
	}
	// Strict validation refuses an unknown field; --validate=false lets it pass.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(csrManifest("erin", csrPEM(t, "erin"), "example.com/signer"), "usages:", "usagez: [x]\n  usages:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := kubectl.run(admin, "create", "-f", bad)
	if code != 1 || !strings.Contains(errOut, "BadRequest") || !strings.Contains(errOut, `unknown field "spec.usagez"`) {
		t.Errorf("create with unknown field = exit %d, %q; want BadRequest naming spec.usagez", code, errOut)
	}
	_, errOut, code = kubectl.run(admin, "create", "--validate=warn", "-f", bad)
	if code != 0 || !strings.Contains(errOut, "Warning") {
		t.Errorf("create --validate=warn = exit %d, %q; want a warning", code, errOut)
	}
	// Dry run stores nothing.
	frank := filepath.Join(dir, "frank.yaml")
	if err := os.WriteFile(frank, []byte(csrManifest("frank", csrPEM(t, "frank"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl.ok(admin, "create", "--dry-run=server", "-f", frank); !strings.Contains(out, "server dry run") {
		t.Errorf("create --dry-run=server = %q", out)
	}
	if _, errOut, code := kubectl.run(admin, "get", "csr", "frank"); code != 1 || !strings.Contains(errOut, "NotFound") {
		t.Errorf("dry-run object exists: exit %d %q", code, errOut)
	}
	// 422 with causes prints the fields.
	short := filepath.Join(dir, "short.yaml")
	if err := os.WriteFile(short, []byte(strings.Replace(csrManifest("gina", csrPEM(t, "gina"), "example.com/signer"), "86400", "60", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = kubectl.run(admin, "create", "-f", short)
	if code != 1 || !strings.Contains(errOut, `The CertificateSigningRequest "gina" is invalid`) || !strings.Contains(errOut, "spec.expirationSeconds") {
		t.Errorf("create with expirationSeconds 60 = exit %d, %q", code, errOut)
	}

	// Reviews.
	if out := kubectl.ok(admin, "auth", "can-i", "approve", "csr"); !strings.HasPrefix(out, "yes") {
		t.Errorf("admin can-i approve csr = %q", out)
	}
	user := srv.KubeconfigFor("ursula", "devs")
	if out, _, code := kubectl.run(user, "auth", "can-i", "approve", "csr", "--subresource=approval"); code != 1 || !strings.HasPrefix(out, "no") {
		t.Errorf("user can-i approve = exit %d, %q", code, out)
	}
	if out := kubectl.ok(user, "auth", "can-i", "create", "csr"); !strings.HasPrefix(out, "yes") {
		t.Errorf("user can-i create csr = %q", out)
	}
	if out := kubectl.ok(user, "auth", "can-i", "--list"); !strings.Contains(out, "certificatesigningrequests.certificates.k8s.io") {
		t.Errorf("can-i --list = %q", out)
	}
	if out := kubectl.ok(user, "auth", "whoami"); !strings.Contains(out, "ursula") || !strings.Contains(out, "[devs system:authenticated]") {
		t.Errorf("whoami = %q", out)
	}
	_, errOut, code = kubectl.run(user, "get", "csr")
	if code != 1 || !strings.Contains(errOut, "Error from server (Forbidden)") {
		t.Errorf("user get csr = exit %d, %q; want Forbidden", code, errOut)
	}
	if out := kubectl.ok(admin, "api-versions"); !strings.Contains(out, "certificates.k8s.io/v1") || !strings.Contains(out, "authorization.k8s.io/v1") {
		t.Errorf("api-versions = %q", out)
	}
	if out := kubectl.ok(admin, "get", "--raw", "/readyz?verbose"); !strings.Contains(out, "[+]store ok") {
		t.Errorf("readyz?verbose = %q", out)
	}
	if out := kubectl.ok(admin, "get", "--raw", "/livez"); out != "ok" {
		t.Errorf("livez = %q", out)
	}
	// The server records no events, in the default namespace (kubectl's
	// own default), in another, or in all.
	for _, tc := range []struct {
		args []string
		want string // kubectl prints it on standard error
	}{
		{[]string{"events"}, "No events found in default namespace."},
		{[]string{"events", "-n", "kube-system"}, "No events found in kube-system namespace."},
		{[]string{"events", "-A"}, "No events found."},
	} {
		if _, errOut, code := kubectl.run(admin, tc.args...); code != 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("kubectl %v = exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	// CSRs are cluster-scoped: under a namespace there is no such path.
	if _, errOut, code := kubectl.run(admin, "get", "--raw", "/apis/certificates.k8s.io/v1/namespaces/default/certificatesigningrequests"); code != 1 ||
		!strings.Contains(errOut, "the server could not find the requested resource") {
		t.Errorf("namespaced CSR path = exit %d, %q", code, errOut)
	}

	// A user creates their own CSR: the identity is theirs.
	cs := srv.Clientset("ursula", "devs").CertificatesV1().CertificateSigningRequests()
	got, err := cs.Create(t.Context(), newCSR(t, "ursula-1", "ursula"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("user create: %v", err)
	}
	if got.Spec.Username != "ursula" || got.Spec.SignerName != certv1.KubeAPIServerClientSignerName {
		t.Errorf("user create = %q %q", got.Spec.Username, got.Spec.SignerName)
	}
	// Delete by label, then nothing is left with it.
	kubectl.ok(admin, "delete", "csr", "-l", "team=green")
	if out, errOut, _ := kubectl.run(admin, "get", "csr", "-l", "team=green"); strings.Contains(out, "carol") || !strings.Contains(errOut, "No resources found") {
		t.Errorf("after delete -l: %q %q", out, errOut)
	}
}

func TestKubectlGetForms(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for _, n := range []string{"k1", "k2"} {
		if _, err := cs.Create(t.Context(), newCSR(t, n, n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if out := kubectl.ok(admin, "get", "csr", "-o", "wide"); !strings.Contains(out, "REQUESTEDDURATION") || !rowHas(out, "k1", "<none>") {
		t.Errorf("get -o wide = %q", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "--show-kind"); !strings.Contains(out, "certificatesigningrequest.certificates.k8s.io/k1") {
		t.Errorf("get --show-kind = %q", out)
	}
	if out := kubectl.ok(admin, "describe", "csr"); strings.Count(out, "Requesting User:") != 2 {
		t.Errorf("describe csr (all) = %q, want two", out)
	}
	out, errOut, code := kubectl.run(admin, "certificate", "approve", "k1", "k2", "nope")
	if code != 1 || !strings.Contains(out, "k1 approved") || !strings.Contains(out, "k2 approved") || !strings.Contains(errOut, `"nope" not found`) {
		t.Errorf("approve k1 k2 nope = exit %d, %q, %q", code, out, errOut)
	}
	if out := kubectl.ok(admin, "get", "csr", "--field-selector", "metadata.name=k2", "-o", "name"); strings.TrimSpace(out) != "certificatesigningrequest.certificates.k8s.io/k2" {
		t.Errorf("field selector = %q", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "--chunk-size", "1", "-o", "name"); strings.Count(out, "certificatesigningrequest") != 2 {
		t.Errorf("chunked get = %q, want both", out)
	}
	if _, errOut, code := kubectl.run(admin, "get", "pods"); code != 1 || !strings.Contains(errOut, `doesn't have a resource type "pods"`) {
		t.Errorf("get pods = exit %d, %q", code, errOut)
	}
	if out, _, code := kubectl.run(admin, "get", "csr", "nope", "--ignore-not-found"); code != 0 || out != "" {
		t.Errorf("get nope --ignore-not-found = exit %d, %q", code, out)
	}
}
