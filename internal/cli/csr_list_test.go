package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// Objects of the list cases: a CSR with and without its type.
const (
	csrItemA   = `{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"a","resourceVersion":"5","uid":"u"},"spec":{"request":"aGVsbG8=","signerName":"a/b","usages":["client auth"]},"status":{}}`
	untypedB   = `{"metadata":{"name":"b"},"spec":{"request":"aGVsbG8=","signerName":"a/b"}}`
	csrYAMLC   = "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: c}\nspec: {request: aGVsbG8=, signerName: a/b}\n"
	podItem    = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`
	unknownCSR = `{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"bogus":1}}`
)

// csrListCases are manifests with lists, as kubectl reads them: the names
// they hold, or the error's text.
var csrListCases = []struct {
	name, content string
	want          []string
	wantErr       string
}{
	{name: "v1 List from kubectl get -o yaml", content: "apiVersion: v1\nitems:\n- " + csrItemA + "\nkind: List\nmetadata:\n  resourceVersion: \"\"\n", want: []string{"a"}},
	{name: "v1 List json", content: `{"apiVersion":"v1","kind":"List","items":[` + csrItemA + `]}`, want: []string{"a"}},
	{name: "typed list, items without type", content: `{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequestList","metadata":{"resourceVersion":"9"},"items":[` + untypedB + `]}`, want: []string{"b"}},
	{name: "nested lists", content: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"List","items":[` + csrItemA + `]},` + csrItemA + `]}`, want: []string{"a", "a"}},
	{name: "list and object documents", content: "apiVersion: v1\nkind: List\nitems:\n- " + csrItemA + "\n---\n" + csrYAMLC, want: []string{"a", "c"}},
	{name: "empty list", content: `{"apiVersion":"v1","kind":"List","items":[]}`, wantErr: "no CertificateSigningRequest found"},
	{name: "v1 List item without type", content: `{"apiVersion":"v1","kind":"List","items":[` + untypedB + `]}`, wantErr: `document 1, item 1: is v1 "", want apiVersion certificates.k8s.io/v1`},
	{name: "other kind in list", content: `{"apiVersion":"v1","kind":"List","items":[` + csrItemA + `,` + podItem + `]}`, wantErr: `document 1, item 2: is v1 "Pod"`},
	{name: "unknown field in item", content: `{"apiVersion":"v1","kind":"List","items":[` + unknownCSR + `]}`, wantErr: `document 1, item 1: error unmarshaling JSON`},
	{name: "unknown field in list", content: `{"apiVersion":"v1","kind":"List","item":[` + csrItemA + `]}`, wantErr: `document 1: v1 List: unknown field "item"`},
	{name: "items not a list", content: `{"apiVersion":"v1","kind":"List","items":{"a":1}}`, wantErr: "items must be a list"},
	{name: "item not an object", content: `{"apiVersion":"v1","kind":"List","items":[1]}`, wantErr: "document 1, item 1: must be an object"},
	{name: "item without name", content: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest"}]}`, wantErr: "document 1, item 1: metadata.name is required"},
}

func TestParseCSRManifestsLists(t *testing.T) {
	t.Parallel()
	for _, tc := range csrListCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			csrs, err := parseCSRManifests([]byte(tc.content))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseCSRManifests() = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCSRManifests() = %v", err)
			}
			var names []string
			for _, c := range csrs {
				names = append(names, c.Name)
				if c.Kind != csrKind || c.APIVersion != csrAPIVersion {
					t.Errorf("item %s has type %s %s", c.Name, c.APIVersion, c.Kind)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("names = %v, want %v", names, tc.want)
			}
		})
	}
}

// TestCSRCreateFromGetList: the List that "csr get A B -o yaml" (and
// kubectl get csr A B -o yaml) prints is read back by "csr create -f",
// and, when it is there, by stock kubectl too.
func TestCSRCreateFromGetList(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	dir := t.TempDir()
	src := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(src, []byte(csrManifest(t, "la", "jane")+"---\n"+csrManifest(t, "lb", "joe")), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "csr", "create", "-f", src, "--kubeconfig", admin); r.code != 0 {
		t.Fatalf("csr create -f %s = exit %d, %v", src, r.code, r.err)
	}
	got := runCLI(t, "csr", "get", "la", "lb", "-o", "yaml", "--kubeconfig", admin)
	if got.code != 0 || !strings.Contains(got.stdout, "kind: List") {
		t.Fatalf("csr get -o yaml = exit %d, %v, %q; want a List", got.code, got.err, got.stdout)
	}
	list := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(list, []byte(got.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"la", "lb"} {
		if err := client.Delete(t.Context(), n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "csr", "create", "-f", list, "--kubeconfig", admin)
	want := csrResource + "/la created\n" + csrResource + "/lb created\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("csr create -f list.yaml = exit %d, %v, stdout %q; want %q", r.code, r.err, r.stdout, want)
	}
	if names := listCSRs(t, client); !slices.Equal(names, []string{"la", "lb"}) {
		t.Errorf("CSRs = %v, want [la lb]", names)
	}
}

// TestCSRDecisionOutput: approve and deny take kubectl certificate
// approve's -o: "name" prints RESOURCE/NAME alone (kubectl's name
// printer drops the verb), json and yaml the request as it now is.
func TestCSRDecisionOutput(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	f := filepath.Join(dir, "csrs.yaml")
	if err := os.WriteFile(f, []byte(csrManifest(t, "oa", "jane")+"---\n"+csrManifest(t, "ob", "joe")), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "csr", "create", "-f", f, "--kubeconfig", admin); r.code != 0 {
		t.Fatalf("csr create = exit %d, %v", r.code, r.err)
	}
	for _, tc := range []struct {
		args       []string
		wantStdout string
		wantIn     []string
	}{
		{args: []string{"approve", "oa", "-o", "name"}, wantStdout: csrResource + "/oa\n"},
		{args: []string{"approve", "oa", "-o", "name"}, wantStdout: csrResource + "/oa\n"},
		{args: []string{"deny", "ob", "-o", "name"}, wantStdout: csrResource + "/ob\n"},
		{args: []string{"approve", "oa"}, wantStdout: csrResource + "/oa approved\n"},
		{args: []string{"approve", "oa", "-o", "json"}, wantIn: []string{`"kind": "CertificateSigningRequest"`, `"type": "Approved"`}},
		{args: []string{"deny", "ob", "-o", "yaml"}, wantIn: []string{"name: ob", "type: Denied"}},
		{args: []string{"approve", "oa", "-o", "jsonpath={.metadata.name}"}, wantStdout: "oa"},
	} {
		r := runCLI(t, append(append([]string{"csr"}, tc.args...), "--kubeconfig", admin)...)
		if r.code != 0 {
			t.Errorf("csr %v = exit %d, %v", tc.args, r.code, r.err)
			continue
		}
		if tc.wantStdout != "" && r.stdout != tc.wantStdout {
			t.Errorf("csr %v printed %q, want %q", tc.args, r.stdout, tc.wantStdout)
		}
		for _, w := range tc.wantIn {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("csr %v printed %q, want %q in it", tc.args, r.stdout, w)
			}
		}
	}
	r := runCLI(t, "csr", "approve", "oa", "-o", "wide", "--kubeconfig", admin)
	if _, ok := errors.AsType[*UsageError](r.err); r.code != 2 || !ok {
		t.Errorf("csr approve -o wide = exit %d, %v; want a usage error", r.code, r.err)
	}
}
