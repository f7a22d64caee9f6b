package cli

import (
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// csrManifest returns a v1 CSR manifest for a fresh key with CN cn.
func csrManifest(t *testing.T, name, cn string) string {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: cn}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages:
  - client auth
`, name, base64.StdEncoding.EncodeToString(pki.MarshalCSRPEM(der)))
}

// runKubectlAt runs the real kubectl with kubeconfigFile and returns its
// combined output and whether it succeeded.
func runKubectlAt(t *testing.T, kubeconfigFile string, args ...string) (string, bool) {
	t.Helper()
	kubectl := pkitest.RequireTool(t, "kubectl")
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), kubectl, append([]string{"--kubeconfig", kubeconfigFile}, args...)...)
	cmd.Env = []string{"HOME=" + home, "KUBECACHEDIR=" + filepath.Join(home, "cache"), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// dropAge removes the AGE column (second) from a CSR table, since the
// two tools look at different instants.
func dropAge(table string) string {
	re := regexp.MustCompile(`(?m)^(\S+)\s+\S+\s+`)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(re.ReplaceAllString(l, "$1 ")), " ")
	}
	return strings.Join(lines, "\n")
}

func TestCSRCommands(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "csrs.yaml")
	content := csrManifest(t, "alice", "alice") + "---\n" + csrManifest(t, "bob", "bob") + "---\n" + csrManifest(t, "carol", "carol")
	if err := os.WriteFile(manifest, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k := []string{"--kubeconfig", admin}

	r := runCLI(t, append([]string{"csr", "create", "-f", manifest}, k...)...)
	wantCreated := "certificatesigningrequest.certificates.k8s.io/alice created\ncertificatesigningrequest.certificates.k8s.io/bob created\ncertificatesigningrequest.certificates.k8s.io/carol created\n"
	if r.code != 0 || r.stdout != wantCreated {
		t.Fatalf("csr create = exit %d (%v), stdout %q; want %q", r.code, r.err, r.stdout, wantCreated)
	}

	// The table matches kubectl get csr's, AGE aside.
	r = runCLI(t, append([]string{"csr", "list"}, k...)...)
	theirs, ok := runKubectlAt(t, admin, "get", "csr")
	if !ok {
		t.Fatalf("kubectl get csr: %s", theirs)
	}
	if d := cmp.Diff(dropAge(theirs), dropAge(r.stdout)); d != "" {
		t.Errorf("csr list differs from kubectl get csr (-kubectl +kubepki):\n%s", d)
	}

	// approve: several names, one missing → the others are approved, exit 1.
	r = runCLI(t, append([]string{"csr", "approve", "alice", "nope"}, k...)...)
	if r.code != 1 || r.stdout != "certificatesigningrequest.certificates.k8s.io/alice approved\n" {
		t.Errorf("csr approve alice nope = exit %d, stdout %q", r.code, r.stdout)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), `Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "nope" not found`) {
		t.Errorf("csr approve nope error = %v, want kubectl's NotFound message", r.err)
	}
	// Approving again is a no-op that still succeeds; denying it fails.
	if r = runCLI(t, append([]string{"csr", "approve", "alice"}, k...)...); r.code != 0 {
		t.Errorf("second approve = exit %d, %v; want 0", r.code, r.err)
	}
	r = runCLI(t, append([]string{"csr", "deny", "alice"}, k...)...)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), `certificate signing request "alice" is already Approved`) {
		t.Errorf("deny approved = exit %d, %v; want already Approved", r.code, r.err)
	}
	// kubectl sees our decision as its own kind of condition.
	if out, _ := runKubectlAt(t, admin, "certificate", "deny", "alice"); !strings.Contains(out, `is already Approved`) {
		t.Errorf("kubectl certificate deny alice = %q, want already Approved", out)
	}

	r = runCLI(t, append([]string{"csr", "deny", "bob"}, k...)...)
	if r.code != 0 || r.stdout != "certificatesigningrequest.certificates.k8s.io/bob denied\n" {
		t.Errorf("csr deny bob = exit %d (%v), stdout %q", r.code, r.err, r.stdout)
	}
	// --all-pending takes only carol now.
	r = runCLI(t, append([]string{"csr", "approve", "--all-pending"}, k...)...)
	if r.code != 0 || r.stdout != "certificatesigningrequest.certificates.k8s.io/carol approved\n" {
		t.Errorf("approve --all-pending = exit %d (%v), stdout %q", r.code, r.err, r.stdout)
	}

	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for name, want := range map[string]certv1.RequestConditionType{"alice": certv1.CertificateApproved, "bob": certv1.CertificateDenied, "carol": certv1.CertificateApproved} {
		c, err := client.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Status.Conditions) != 1 || c.Status.Conditions[0].Type != want || c.Status.Conditions[0].Status != "True" || c.Status.Conditions[0].Reason == "" {
			t.Errorf("%s conditions = %+v, want one %s condition with a reason", name, c.Status.Conditions, want)
		}
	}

	// The table's CONDITION column agrees with kubectl's.
	r = runCLI(t, append([]string{"csr", "list"}, k...)...)
	theirs, _ = runKubectlAt(t, admin, "get", "csr")
	if d := cmp.Diff(dropAge(theirs), dropAge(r.stdout)); d != "" {
		t.Errorf("csr list after decisions differs (-kubectl +kubepki):\n%s", d)
	}

	// get -o json|yaml prints what kubectl get csr prints.
	for _, args := range [][]string{{"alice", "-o", "json"}, {"alice", "-o", "yaml"}, {"alice", "bob", "-o", "json"}, {"bob", "carol", "-o", "yaml"}} {
		r = runCLI(t, append(append([]string{"csr", "get"}, args...), k...)...)
		theirs, ok := runKubectlAt(t, admin, append([]string{"get", "csr"}, args...)...)
		if !ok {
			t.Fatalf("kubectl get csr %v: %s", args, theirs)
		}
		if d := cmp.Diff(theirs, r.stdout); d != "" {
			t.Errorf("csr get %v differs from kubectl (-kubectl +kubepki):\n%s", args, d)
		}
	}

	// get: one name prints the object itself, in every format.
	r = runCLI(t, append([]string{"csr", "get", "bob", "-o", "json"}, k...)...)
	var got certv1.CertificateSigningRequest
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Name != "bob" || got.Kind != "CertificateSigningRequest" || got.APIVersion != "certificates.k8s.io/v1" {
		t.Errorf("csr get bob -o json = %q (%v), want the object with kind and apiVersion", r.stdout, err)
	}
	r = runCLI(t, append([]string{"csr", "get", "alice", "bob", "-o", "yaml"}, k...)...)
	var list csrList
	if err := yaml.Unmarshal([]byte(r.stdout), &list); err != nil || list.Kind != "List" || len(list.Items) != 2 {
		t.Errorf("csr get alice bob -o yaml = %q (%v), want a List of two", r.stdout, err)
	}
	r = runCLI(t, append([]string{"csr", "get", "carol", "-o", "jsonpath={.spec.signerName}"}, k...)...)
	if r.stdout != "kubernetes.io/kube-apiserver-client" {
		t.Errorf("jsonpath = %q, want the signer name", r.stdout)
	}
	r = runCLI(t, append([]string{"csr", "list", "-o", "name"}, k...)...)
	if !strings.Contains(r.stdout, "certificatesigningrequest.certificates.k8s.io/carol\n") {
		t.Errorf("csr list -o name = %q", r.stdout)
	}
	if r = runCLI(t, append([]string{"csr", "list", "-o", "xml"}, k...)...); r.code != 2 {
		t.Errorf("csr list -o xml = exit %d, want 2", r.code)
	}

	// delete, then get fails with kubectl's message.
	r = runCLI(t, append([]string{"csr", "delete", "bob"}, k...)...)
	if r.code != 0 || r.stdout != "certificatesigningrequest.certificates.k8s.io \"bob\" deleted\n" {
		t.Errorf("csr delete bob = exit %d (%v), stdout %q", r.code, r.err, r.stdout)
	}
	r = runCLI(t, append([]string{"csr", "get", "bob"}, k...)...)
	if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), `"bob" not found`) {
		t.Errorf("csr get deleted = exit %d, %v", r.code, r.err)
	}
}

func TestCSRCreateRejectsBadManifests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, content string
	}{
		{name: "empty", content: ""},
		{name: "wrong kind", content: "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
		{name: "unknown field", content: "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: x}\nspec: {bogus: 1}\n"},
		{name: "no name", content: "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nspec: {signerName: a/b}\n"},
		{name: "not yaml", content: "{{{"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseCSRManifests([]byte(tc.content)); err == nil {
				t.Errorf("parseCSRManifests(%q) succeeded, want an error", tc.content)
			}
			// The command fails before it needs a server.
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, "csr", "create", "-f", f, "--kubeconfig", filepath.Join(dir, "none.conf"))
			if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), f) {
				t.Errorf("csr create -f %s = exit %d, %v; want exit 1 naming the file", f, r.code, r.err)
			}
		})
	}
}

func TestCSRConditionColumn(t *testing.T) {
	t.Parallel()
	cond := func(types ...certv1.RequestConditionType) []certv1.CertificateSigningRequestCondition {
		var cs []certv1.CertificateSigningRequestCondition
		for _, ty := range types {
			cs = append(cs, certv1.CertificateSigningRequestCondition{Type: ty, Status: "False"})
		}
		return cs
	}
	tests := []struct {
		conds  []certv1.CertificateSigningRequestCondition
		issued bool
		want   string
	}{
		{want: "Pending"},
		{conds: cond(certv1.CertificateApproved), want: "Approved"},
		{conds: cond(certv1.CertificateApproved), issued: true, want: "Approved,Issued"},
		{conds: cond(certv1.CertificateDenied), want: "Denied"},
		{conds: cond(certv1.CertificateApproved, certv1.CertificateFailed), want: "Approved,Failed"},
		{conds: cond(certv1.CertificateFailed), want: "Pending,Failed"},
	}
	for _, tc := range tests {
		c := &certv1.CertificateSigningRequest{Status: certv1.CertificateSigningRequestStatus{Conditions: tc.conds}}
		if tc.issued {
			c.Status.Certificate = []byte("x")
		}
		if got := csrCondition(c); got != tc.want {
			t.Errorf("csrCondition(%v, issued %v) = %q, want %q", tc.conds, tc.issued, got, tc.want)
		}
	}
}

func FuzzParseCSRManifests(f *testing.F) {
	f.Add([]byte("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: x}\nspec: {request: aGVsbG8=, signerName: a/b, usages: [client auth]}\n"))
	f.Add([]byte(`{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"x"}}`))
	f.Add([]byte("---\n---\napiVersion: v1\n"))
	f.Add([]byte("{{{"))
	for _, tc := range csrListCases {
		f.Add([]byte(tc.content))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		csrs, err := parseCSRManifests(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(csrs) == 0 {
			t.Fatal("no error and no CSR")
		}
		for _, c := range csrs {
			if c.Kind != csrKind || c.APIVersion != csrAPIVersion || (c.Name == "" && c.GenerateName == "") {
				t.Fatalf("accepted %+v", c.TypeMeta)
			}
		}
	})
}

func TestClientCommandsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"csr", "get"},
		{"csr", "delete"},
		{"csr", "bogus"},
		{"csr", "approve"},
		{"csr", "approve", "x", "--all-pending"},
		{"csr", "create"},
		{"csr", "list", "extra"},
		{"config", "bogus"},
		{"config", "use-context"},
		{"config", "rename-context", "a"},
		{"config", "merge", "a.conf"},
		{"config", "view", "-o", "xml"},
		{"config", "get-contexts", "-o", "wide"},
		{"user"},
		{"node", "add"},
	} {
		if r := runCLI(t, args...); r.code != 2 {
			t.Errorf("kubepki %v = exit %d (%v), want 2", args, r.code, r.err)
		}
	}
}

// TestCSRDecisionForce checks --force as "kubectl certificate approve
// --force": a request that already has the decision is sent again
// unchanged and the command succeeds, printing what it prints without
// --force; the opposite decision is still refused.
func TestCSRDecisionForce(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "csrs.yaml")
	if err := os.WriteFile(manifest, []byte(csrManifest(t, "alice", "alice")+"---\n"+csrManifest(t, "bob", "bob")), 0o600); err != nil {
		t.Fatal(err)
	}
	k := []string{"--kubeconfig", admin}
	if r := runCLI(t, append([]string{"csr", "create", "-f", manifest}, k...)...); r.code != 0 {
		t.Fatalf("csr create = exit %d, %v", r.code, r.err)
	}
	const prefix = "certificatesigningrequest.certificates.k8s.io/"
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantErr    string
	}{
		{args: []string{"approve", "alice"}, wantStdout: prefix + "alice approved\n"},
		{args: []string{"approve", "alice"}, wantStdout: prefix + "alice approved\n"},
		{args: []string{"approve", "--force", "alice"}, wantStdout: prefix + "alice approved\n"},
		{args: []string{"deny", "--force", "alice"}, wantCode: 1, wantErr: `certificate signing request "alice" is already Approved`},
		{args: []string{"deny", "bob"}, wantStdout: prefix + "bob denied\n"},
		{args: []string{"deny", "--force", "bob"}, wantStdout: prefix + "bob denied\n"},
		{args: []string{"approve", "--force", "bob"}, wantCode: 1, wantErr: `certificate signing request "bob" is already Denied`},
	}
	for _, tc := range tests {
		r := runCLI(t, append(append([]string{"csr"}, tc.args...), k...)...)
		if r.code != tc.wantCode || r.stdout != tc.wantStdout {
			t.Errorf("csr %v = exit %d (%v), stdout %q; want exit %d, stdout %q", tc.args, r.code, r.err, r.stdout, tc.wantCode, tc.wantStdout)
		}
		if tc.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr)) {
			t.Errorf("csr %v error = %v, want %q", tc.args, r.err, tc.wantErr)
		}
	}
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for name, want := range map[string]certv1.RequestConditionType{"alice": certv1.CertificateApproved, "bob": certv1.CertificateDenied} {
		c, err := client.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Status.Conditions) != 1 || c.Status.Conditions[0].Type != want {
			t.Errorf("%s conditions = %+v, want exactly one %s condition", name, c.Status.Conditions, want)
		}
	}
}
