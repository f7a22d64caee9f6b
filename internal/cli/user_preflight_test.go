package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/kubeconfig"
)

// csrReaderPolicy is the default policy plus group csr-readers, which
// may create, get, list and watch CSRs but not approve them.
func csrReaderPolicy() *apiserver.Policy {
	policy := apiserver.DefaultPolicy()
	policy.ClusterRoles = append(policy.ClusterRoles, rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-reader"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "get", "list", "watch"},
			APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}}},
	})
	policy.ClusterRoleBindings = append(policy.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-readers"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "csr-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "csr-readers"}},
	})
	return policy
}

// TestEnrollWithoutAccessReviews: against a server that refuses or does
// not serve SelfSubjectAccessReviews, user add and node add go on as
// without the check, and succeed.
func TestEnrollWithoutAccessReviews(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer *apierrors.StatusError
	}{
		{"not served", apierrors.NewNotFound(schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, "")},
		{"refused", apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, "", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
			reviews := 0
			addr := startProxy(t, srv, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
				if strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") {
					reviews++
					writeStatus(w, tc.answer)
					return
				}
				pass.ServeHTTP(w, r)
			})
			kc := kubeconfigVia(t, srv, addr, apiservertest.AdminUser, apiservertest.AdminGroup)
			dir := t.TempDir()
			for _, args := range [][]string{
				{"user", "add", "jane", "--approve", "-o", filepath.Join(dir, "jane.conf")},
				{"node", "add", "n1", "--approve", "-o", filepath.Join(dir, "n1.conf")},
			} {
				r := runCLI(t, append(args, "--kubeconfig", kc, "--timeout", "60s")...)
				if r.code != 0 {
					t.Errorf("%v with reviews answered %d = exit %d, %v", args, tc.answer.ErrStatus.Code, r.code, r.err)
				}
			}
			if reviews == 0 {
				t.Error("no SelfSubjectAccessReview was asked")
			}
		})
	}
}

// TestUserAddReservedIdentities: system:masters is refused before
// anything is created; kubeadm:cluster-admins and names and groups under
// "system:" are issued with a warning on stderr that says what the
// identity gets.
func TestUserAddReservedIdentities(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	dir := t.TempDir()

	r := runCLI(t, "user", "add", "root", "--group", "dev", "--group", "system:masters", "--approve", "--kubeconfig", admin, "-o", filepath.Join(dir, "root.conf"))
	if r.code != 2 || r.err == nil {
		t.Fatalf("user add --group system:masters = exit %d, %v; want 2", r.code, r.err)
	}
	for _, want := range []string{"refusing --group system:masters", "cannot be revoked", "super-admin.conf", "kubeadm:cluster-admins"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q does not say %q", r.err, want)
		}
	}
	if names := listCSRs(t, client); len(names) != 0 {
		t.Fatalf("CSRs %v created for system:masters", names)
	}

	tests := []struct {
		name   string
		user   string
		groups []string
		want   []string
	}{
		{name: "cluster admins", user: "g1", groups: []string{"kubeadm:cluster-admins"},
			want: []string{`warning: group "kubeadm:cluster-admins" is bound to cluster-admin`}},
		{name: "service account", user: "system:serviceaccount:default:x",
			want: []string{`warning: user name "system:serviceaccount:default:x" is the identity of service account "x" in namespace "default"`}},
		{name: "nodes group", user: "n2", groups: []string{"system:nodes"},
			want: []string{`warning: group "system:nodes" is the kubelets' group`, "kubepki node add"}},
		{name: "system admin", user: "system:admin",
			want: []string{`warning: user name "system:admin" starts with "system:"`}},
		{name: "anonymous", user: "system:anonymous",
			want: []string{`warning: user name "system:anonymous" is the name of unauthenticated requests`}},
		{name: "controller manager", user: "system:kube-controller-manager",
			want: []string{"ClusterRoleBinding system:kube-controller-manager"}},
		{name: "several", user: "system:kube-x", groups: []string{"dev", "system:bootstrappers:kubeadm:default-node-token", "system:serviceaccounts:kube-system"},
			want: []string{`user name "system:kube-x" is in the form of Kubernetes components`, "group of bootstrap tokens", `service accounts of namespace "kube-system"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"user", "add", tc.user, "--approve", "--kubeconfig", admin, "-o", filepath.Join(dir, tc.name+".conf")}
			for _, g := range tc.groups {
				args = append(args, "--group", g)
			}
			r := runCLI(t, args...)
			if r.code != 0 {
				t.Fatalf("%v = exit %d, %v", args, r.code, r.err)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not say %q", r.stderr, want)
				}
			}
			if n := strings.Count(r.stderr, "warning: "); n != len(tc.want) && tc.name != "nodes group" && tc.name != "several" {
				t.Errorf("stderr has %d warnings, want %d: %q", n, len(tc.want), r.stderr)
			}
		})
	}
}

// TestIdentityWarningsPlain: ordinary names and groups draw no warning,
// and node add (whose identity is system:node:NAME in system:nodes by
// design) warns about none.
func TestIdentityWarningsPlain(t *testing.T) {
	t.Parallel()
	if ws := identityWarnings("jane", []string{"dev", "ops", "system-admins", "kubeadm:other"}); len(ws) != 0 {
		t.Errorf("identityWarnings(jane, plain groups) = %q, want none", ws)
	}
	if ws := identityWarnings("system:serviceaccount:bad", nil); len(ws) != 1 || !strings.Contains(ws[0], "form of service-account identities") {
		t.Errorf("identityWarnings(system:serviceaccount:bad) = %q, want the form named", ws)
	}
}

// TestEnrollRefusesBadIdentityText: white space at either end, control
// characters and invalid UTF-8 in a name or group are usage errors, found
// before any kubeconfig is read.
func TestEnrollRefusesBadIdentityText(t *testing.T) {
	t.Parallel()
	none := filepath.Join(t.TempDir(), "none.conf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "g1", "--group", " dev"}, `group " dev" begins or ends with white space`},
		{[]string{"user", "add", "g1", "--group", "dev\t"}, `group "dev\t" begins or ends with white space`},
		{[]string{"user", "add", " jane"}, `user name " jane" begins or ends with white space`},
		{[]string{"user", "add", "jane\u00a0"}, "white space"},
		{[]string{"user", "add", "ja\x00ne"}, `control character U+0000`},
		{[]string{"user", "add", "jane", "--group", "d\x1bev"}, `control character U+001B`},
		{[]string{"user", "add", "jane", "--group", "d\u0085ev"}, `control character U+0085`},
		{[]string{"user", "add", "ja\xffne"}, "not valid UTF-8"},
	} {
		r := runCLI(t, append(tc.args, "--kubeconfig", none)...)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%q = exit %d, %v; want exit 2 with %q", tc.args, r.code, r.err, tc.want)
		}
	}
}

// TestNodeAddMessages: node add's errors name the node and echo the
// values as typed.
func TestNodeAddMessages(t *testing.T) {
	t.Parallel()
	none := filepath.Join(t.TempDir(), "none.conf")
	long := strings.Repeat("a", 70)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"node", "add", long}, `node name "` + long + `" is 70 characters long; at most 52 fit`},
		{[]string{"node", "add", "n1", "--dns", "Bad_Name"}, `--dns "Bad_Name": label "Bad_Name" may hold only letters, digits and inner '-'`},
		{[]string{"node", "add", "n1", "--dns", "ok.Ex..ample"}, `--dns "ok.Ex..ample": label "" must be 1 to 63 characters`},
		{[]string{"node", "add", "n1", "--ip", "10.0.0.300"}, `--ip "10.0.0.300" is not an IP address`},
	} {
		r := runCLI(t, append(tc.args, "--kubeconfig", none)...)
		if r.code != 2 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%q = exit %d, %v; want exit 2 with %q", tc.args, r.code, r.err, tc.want)
		}
		if strings.Contains(r.err.Error(), "user name") {
			t.Errorf("%q: error %q speaks of a user name", tc.args, r.err)
		}
	}
	// Upper-case DNS names are valid and issued lower-cased.
	if err := checkDNSFlag("Worker-1.Example."); err != nil {
		t.Errorf("checkDNSFlag(Worker-1.Example.) = %v, want nil", err)
	}
}

// TestEnrollMissingKubeconfig: with no kubeconfig file where $KUBECONFIG
// or --kubeconfig points, the error names the path, as kubectl's
// "Config not found" does, instead of blaming a context.
func TestEnrollMissingKubeconfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent")
	t.Setenv("KUBECONFIG", missing)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "x", "-o", filepath.Join(dir, "x.conf")}, "kubeconfig not found: no file exists at " + missing + " ($KUBECONFIG)"},
		{[]string{"node", "add", "n1", "-o", filepath.Join(dir, "n1.conf")}, "kubeconfig not found: no file exists at " + missing},
		{[]string{"csr", "list"}, "kubeconfig not found: no file exists at " + missing},
		{[]string{"user", "add", "x", "-o", filepath.Join(dir, "x.conf"), "--kubeconfig", missing + ".conf"}, "kubeconfig not found: " + missing + ".conf (--kubeconfig) does not exist"},
	} {
		r := runCLI(t, tc.args...)
		if r.code != 1 || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%q = exit %d, %v; want exit 1 with %q", tc.args, r.code, r.err, tc.want)
		}
		if r.err != nil && strings.Contains(r.err.Error(), `context ""`) {
			t.Errorf("%q: error %q blames an empty context", tc.args, r.err)
		}
	}
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", dir)
	r := runCLI(t, "user", "add", "x", "-o", filepath.Join(dir, "x.conf"))
	if want := "$KUBECONFIG is not set and " + kubeconfig.HomeFile() + " does not exist"; r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Errorf("user add with no kubeconfig at all = %v, want %q", r.err, want)
	}
}

// TestEnrollChecksEveryOutputPath: every output path is checked with the
// final write's rules before a request is created: a dangling symlink, a
// folder, a path under a file, and one file given for two outputs.
func TestEnrollChecksEveryOutputPath(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Controllers: true})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	dir := t.TempDir()
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	free := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"user", "add", "u1", "-o", dangling}, "path is a symlink or not a regular file", 1},
		{[]string{"user", "add", "u1", "-o", dir}, "path is a symlink or not a regular file", 1},
		{[]string{"user", "add", "u1", "-o", filepath.Join(file, "u1.conf")}, "does not exist", 1},
		{[]string{"node", "add", "n1", "-o", free("n1.conf"), "--dns", "n1", "--serving-cert-file", dangling, "--serving-key-file", free("n1.key")}, "path is a symlink", 1},
		{[]string{"node", "add", "n1", "-o", free("n1.conf"), "--dns", "n1", "--serving-cert-file", free("n1.conf"), "--serving-key-file", free("n1.key")}, "--serving-cert-file " + free("n1.conf") + " is the file of -o too", 2},
		{[]string{"node", "add", "n1", "-o", free("n1.conf"), "--dns", "n1", "--serving-cert-file", free("s.pem"), "--serving-key-file", free("s.pem")}, "is the file of --serving-cert-file too", 2},
	} {
		r := runCLI(t, append(tc.args, "--force", "--approve", "--kubeconfig", admin)...)
		if r.code != tc.code || r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%v = exit %d, %v; want exit %d with %q", tc.args, r.code, r.err, tc.code, tc.want)
		}
		if names := listCSRs(t, client); len(names) != 0 {
			t.Fatalf("%v: CSRs created before the output path was refused: %v", tc.args, names)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("%s holds %d entries, want only the symlink and the file (no probes left)", dir, len(entries))
	}
}
