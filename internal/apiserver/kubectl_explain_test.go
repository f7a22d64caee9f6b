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

// TestKubectlExplain runs the real kubectl explain, which reads the
// components.schemas of /openapi/v3/apis/certificates.k8s.io/v1. want are
// lines kubectl prints as they are (field, type, -required-); docs are
// SwaggerDoc descriptions, compared with the whitespace kubectl's wrapping
// changes folded.
func TestKubectlExplain(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	csrDoc := certv1.CertificateSigningRequest{}.SwaggerDoc()
	specDoc := certv1.CertificateSigningRequestSpec{}.SwaggerDoc()
	conditionDoc := certv1.CertificateSigningRequestCondition{}.SwaggerDoc()
	tests := []struct {
		name string
		args []string
		want []string
		docs []string
	}{
		{
			name: "csr",
			args: []string{"explain", "csr"},
			want: []string{"GROUP:      certificates.k8s.io\nKIND:       CertificateSigningRequest\nVERSION:    v1\n",
				"  metadata\t<ObjectMeta>\n", "  spec\t<CertificateSigningRequestSpec> -required-\n",
				"  status\t<CertificateSigningRequestStatus>\n", "  apiVersion\t<string>\n"},
			docs: []string{csrDoc[""], csrDoc["spec"], csrDoc["status"], metav1.TypeMeta{}.SwaggerDoc()["kind"]},
		},
		{
			name: "csr.spec",
			args: []string{"explain", "csr.spec"},
			want: []string{"FIELD: spec <CertificateSigningRequestSpec>\n", "  request\t<string> -required-\n",
				"  signerName\t<string> -required-\n", "  expirationSeconds\t<integer>\n", "  usages\t<[]string>\n",
				"  groups\t<[]string>\n", "  extra\t<map[string][]string>\n", "  username\t<string>\n"},
			docs: []string{specDoc[""], specDoc["request"], specDoc["expirationSeconds"], specDoc["usages"], specDoc["extra"]},
		},
		{
			name: "csr.spec.usages",
			args: []string{"explain", "csr.spec.usages"},
			want: []string{"FIELD: usages <[]string>\n"},
			docs: []string{specDoc["usages"]},
		},
		{
			name: "csr.status.conditions",
			args: []string{"explain", "csr.status.conditions"},
			want: []string{"FIELD: conditions <[]CertificateSigningRequestCondition>\n", "  type\t<string> -required-\n",
				"  status\t<string> -required-\n", "  lastTransitionTime\t<string>\n", "  reason\t<string>\n"},
			docs: []string{certv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"], conditionDoc[""],
				conditionDoc["type"], conditionDoc["lastTransitionTime"]},
		},
		{
			name: "csr.metadata.creationTimestamp",
			args: []string{"explain", "csr.metadata.creationTimestamp"},
			want: []string{"FIELD: creationTimestamp <string>\n"},
			docs: []string{metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		},
		{
			name: "csr --recursive",
			args: []string{"explain", "csr", "--recursive"},
			want: []string{"  metadata\t<ObjectMeta>\n    annotations\t<map[string]string>\n    creationTimestamp\t<string>\n",
				"    managedFields\t<[]ManagedFieldsEntry>\n      apiVersion\t<string>\n      fieldsType\t<string>\n      fieldsV1\t<FieldsV1>\n",
				"    ownerReferences\t<[]OwnerReference>\n      apiVersion\t<string> -required-\n",
				"  spec\t<CertificateSigningRequestSpec> -required-\n    expirationSeconds\t<integer>\n",
				"    request\t<string> -required-\n    signerName\t<string> -required-\n",
				"  status\t<CertificateSigningRequestStatus>\n    certificate\t<string>\n    conditions\t<[]CertificateSigningRequestCondition>\n",
				"      type\t<string> -required-\n"},
			docs: []string{csrDoc[""]},
		},
		{
			// kubectl's older explain reads /openapi/v2, in protobuf.
			name: "csr.spec plaintext-openapiv2",
			args: []string{"explain", "csr.spec", "--output", "plaintext-openapiv2"},
			want: []string{"KIND:     CertificateSigningRequest\nVERSION:  certificates.k8s.io/v1\n",
				"RESOURCE: spec <Object>\n", "   request\t<string> -required-\n", "   usages\t<[]string>\n"},
			docs: []string{specDoc[""], specDoc["request"], specDoc["usages"]},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := newKubectl(t).ok(admin, tc.args...)
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl %s lacks %q:\n%s", strings.Join(tc.args, " "), want, out)
				}
			}
			folded := strings.Join(strings.Fields(out), " ")
			for _, doc := range tc.docs {
				if doc == "" {
					t.Fatal("empty SwaggerDoc in the test table")
				}
				if !strings.Contains(folded, strings.Join(strings.Fields(doc), " ")) {
					t.Errorf("kubectl %s lacks the description %q:\n%s", strings.Join(tc.args, " "), doc, out)
				}
			}
		})
	}

	// A field that is not in the schema is refused by kubectl itself.
	_, errOut, code := kubectl.run(admin, "explain", "csr.spec.nope")
	if code != 1 || !strings.Contains(errOut, `field "nope" does not exist`) {
		t.Errorf("kubectl explain csr.spec.nope = exit %d, %q; want field \"nope\" does not exist", code, errOut)
	}
}

// TestKubectlCreateStrictWithSchemas checks that with schemas in the
// document kubectl create still leaves validation to the server (the PATCH
// operation offers fieldValidation): an unknown field is the server's
// strict decoding error, not a client-side schema error.
func TestKubectlCreateStrictWithSchemas(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	manifest := strings.Replace(csrManifest("olga", csrPEM(t, "olga"), "example.com/signer"), "usages:", "usagez: [x]\n  usages:", 1)
	if err := os.WriteFile(bad, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := kubectl.run(admin, "create", "-f", bad)
	if code != 1 || !strings.Contains(errOut, "Error from server (BadRequest)") ||
		!strings.Contains(errOut, `strict decoding error: unknown field "spec.usagez"`) {
		t.Errorf("kubectl create with an unknown field = exit %d, %q; want the server's strict decoding error", code, errOut)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	if err := os.WriteFile(good, []byte(csrManifest("olga", csrPEM(t, "olga"), "example.com/signer")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kubectl.ok(admin, "create", "-f", good); !strings.Contains(out, "olga created") {
		t.Errorf("kubectl create = %q, want created", out)
	}
}
