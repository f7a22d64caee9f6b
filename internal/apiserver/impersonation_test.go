package apiserver_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	certv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// impersonationPolicy lets alice impersonate the user bob and the group
// devs, and nothing else, and lets bob read CSRs, which alice may not.
const impersonationPolicy = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-bob}
rules:
- {verbs: [impersonate], apiGroups: [""], resources: [users], resourceNames: [bob]}
- {verbs: [impersonate], apiGroups: [""], resources: [groups], resourceNames: [devs]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-impersonates-bob}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-bob}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-reader}
rules:
- {verbs: [get, list, watch], apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-reads-csrs}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-reader}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}]
`

// loadPolicy writes text to a file and loads it as serve --authorization-policy-file does.
func loadPolicy(t *testing.T, text string) *apiserver.Policy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := apiserver.LoadPolicyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKubectlImpersonation drives kubectl's --as, --as-group and --as-uid
// against a real server: whoami, can-i and get answer for the
// impersonated user, a requester without the right gets kube-apiserver's
// Forbidden message, and a created CSR records the impersonated requester.
func TestKubectlImpersonation(t *testing.T) {
	t.Parallel()
	shared := newKubectl(t)
	// Each subtest runs kubectl under its own t, so that a failure ends
	// only that subtest.
	run := func(t *testing.T) *kubectlRunner { return &kubectlRunner{t: t, path: shared.path, home: shared.home} }
	var logs lockedWriter
	srv := apiservertest.Start(t, apiservertest.Options{
		Policy: loadPolicy(t, impersonationPolicy),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	alice := srv.KubeconfigFor("alice")
	jane := srv.KubeconfigFor("jane", "dev")

	whoami := func(t *testing.T, kubeconfig string, args ...string) authenticationv1.UserInfo {
		t.Helper()
		out := run(t).ok(kubeconfig, append([]string{"auth", "whoami", "-o", "json"}, args...)...)
		var review authenticationv1.SelfSubjectReview
		if err := json.Unmarshal([]byte(out), &review); err != nil {
			t.Fatalf("decode whoami JSON %q: %v", out, err)
		}
		return review.Status.UserInfo
	}

	t.Run("whoami as bob with groups", func(t *testing.T) {
		out := run(t).ok(admin, "auth", "whoami", "--as=bob", "--as-group=g1", "--as-group=g2")
		if !rowHas(out, "Username", "bob") || !strings.Contains(out, "[g1 g2 system:authenticated]") {
			t.Errorf("kubectl auth whoami --as=bob --as-group=g1 --as-group=g2 printed\n%s\nwant bob and [g1 g2 system:authenticated]", out)
		}
		// Nothing of the admin's identity is kept, not even its credential ID.
		want := authenticationv1.UserInfo{Username: "bob", UID: "u-1", Groups: []string{"g1", "g2", apiserver.GroupAuthenticated}}
		if diff := cmp.Diff(want, whoami(t, admin, "--as=bob", "--as-group=g1", "--as-group=g2", "--as-uid=u-1")); diff != "" {
			t.Errorf("whoami as bob (-want +got):\n%s", diff)
		}
	})

	t.Run("whoami as a service account", func(t *testing.T) {
		want := authenticationv1.UserInfo{
			Username: "system:serviceaccount:ns1:robot",
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:ns1", apiserver.GroupAuthenticated},
		}
		if diff := cmp.Diff(want, whoami(t, admin, "--as=system:serviceaccount:ns1:robot")); diff != "" {
			t.Errorf("whoami as a service account (-want +got):\n%s", diff)
		}
	})

	canI := []struct {
		name       string
		kubeconfig string
		args       []string
		want       string
		wantCode   int
	}{
		{"admin itself", admin, []string{"list", "csr"}, "yes", 0},
		{"admin as bob may list", admin, []string{"list", "csr", "--as=bob"}, "yes", 0},
		{"admin as bob may not delete", admin, []string{"delete", "csr", "--as=bob"}, "no", 1},
		{"admin as carol may not list", admin, []string{"list", "csr", "--as=carol"}, "no", 1},
		{"admin as a system:masters member may delete", admin, []string{"delete", "csr", "--as=carol", "--as-group=system:masters"}, "yes", 0},
		{"alice herself may not list", alice, []string{"list", "csr"}, "no", 1},
		{"alice as bob may list", alice, []string{"list", "csr", "--as=bob"}, "yes", 0},
	}
	for _, tc := range canI {
		t.Run("can-i "+tc.name, func(t *testing.T) {
			args := append([]string{"auth", "can-i"}, tc.args...)
			out, errOut, code := run(t).run(tc.kubeconfig, args...)
			if f := strings.Fields(out); code != tc.wantCode || len(f) == 0 || f[0] != tc.want {
				t.Errorf("kubectl %s: exit %d, stdout %q (stderr %q); want %q, exit %d",
					strings.Join(args, " "), code, out, errOut, tc.want, tc.wantCode)
			}
		})
	}

	t.Run("can-i --list as bob", func(t *testing.T) {
		out := run(t).ok(admin, "auth", "can-i", "--list", "--as=bob")
		if !rowHas(out, "certificatesigningrequests.certificates.k8s.io", "get list watch") || strings.Contains(out, "[*]") {
			t.Errorf("kubectl auth can-i --list --as=bob printed\n%s\nwant bob's csr-reader rule and no wildcard", out)
		}
	})

	t.Run("alice may be bob", func(t *testing.T) {
		if got := whoami(t, alice, "--as=bob"); got.Username != "bob" || !cmp.Equal(got.Groups, []string{apiserver.GroupAuthenticated}) {
			t.Errorf("alice whoami --as=bob = %+v, want bob [system:authenticated]", got)
		}
		if got := whoami(t, alice, "--as=bob", "--as-group=devs"); !cmp.Equal(got.Groups, []string{"devs", apiserver.GroupAuthenticated}) {
			t.Errorf("alice whoami --as=bob --as-group=devs groups = %v, want [devs system:authenticated]", got.Groups)
		}
		// Alice may not list CSRs herself; as bob she may.
		if out, errOut, code := run(t).run(alice, "get", "csr"); code == 0 || !strings.Contains(errOut, "(Forbidden)") {
			t.Errorf("alice get csr: exit %d, stdout %q, stderr %q; want Forbidden", code, out, errOut)
		}
		run(t).ok(alice, "get", "csr", "--as=bob")
	})

	// kubectl auth whoami words every 403 its own way ("the
	// selfsubjectreviews API is not enabled ... or you do not have
	// permission"), so the refusals are checked with get.
	refusals := []struct {
		name       string
		kubeconfig string
		args       []string
		want       string
	}{
		{"user without rights as the admin", jane, []string{"get", "csr", "--as=kubernetes-admin"},
			`Error from server (Forbidden): users "kubernetes-admin" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{"alice as carol", alice, []string{"get", "csr", "--as=carol"},
			`Error from server (Forbidden): users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{"alice as bob in a group she may not add", alice, []string{"get", "csr", "--as=bob", "--as-group=devs", "--as-group=system:masters"},
			`Error from server (Forbidden): groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope`},
		{"alice as bob with a UID", alice, []string{"get", "csr", "--as=bob", "--as-uid=u-1"},
			`Error from server (Forbidden): uids.authentication.k8s.io "u-1" is forbidden: User "alice" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope`},
		{"alice as a service account", alice, []string{"get", "csr", "--as=system:serviceaccount:ns1:robot"},
			`Error from server (Forbidden): serviceaccounts "robot" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ns1"`},
	}
	for _, tc := range refusals {
		t.Run("refused "+tc.name, func(t *testing.T) {
			out, errOut, code := run(t).run(tc.kubeconfig, tc.args...)
			if code != 1 || strings.TrimSpace(errOut) != tc.want {
				t.Errorf("kubectl %s: exit %d, stdout %q\nstderr %q\nwant exit 1 and\n%q",
					strings.Join(tc.args, " "), code, out, errOut, tc.want)
			}
		})
	}

	t.Run("refusal logged", func(t *testing.T) {
		waitFor(t, "the log line of jane's refused impersonation", func() bool {
			for _, l := range logs.lines() {
				if l["msg"] == "impersonation denied" && l["user"] == "jane" && strings.Contains(fmt.Sprint(l["error"]), `users "kubernetes-admin"`) {
					return true
				}
			}
			return false
		})
	})

	t.Run("create as bob", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "for-bob.yaml")
		if err := os.WriteFile(manifest, []byte(csrManifest("for-bob", csrPEM(t, "bob"), certv1.KubeAPIServerClientSignerName)), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t).ok(admin, "create", "-f", manifest, "--as=bob", "--as-group=g1", "--as-uid=u-1")
		got, err := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().
			CertificateSigningRequests().Get(t.Context(), "for-bob", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := certv1.CertificateSigningRequestSpec{Username: "bob", UID: "u-1", Groups: []string{"g1", apiserver.GroupAuthenticated}}
		gotSpec := certv1.CertificateSigningRequestSpec{Username: got.Spec.Username, UID: got.Spec.UID, Groups: got.Spec.Groups, Extra: got.Spec.Extra}
		if diff := cmp.Diff(want, gotSpec); diff != "" {
			t.Errorf("CSR created with --as=bob: requester (-want +got):\n%s", diff)
		}
		waitFor(t, "the audit line naming the admin and bob", func() bool {
			for _, l := range logs.lines() {
				if l["msg"] == "audit" && l["verb"] == "create" && l["name"] == "for-bob" &&
					l["user"] == apiservertest.AdminUser && l["impersonatedUser"] == "bob" &&
					cmp.Equal(l["impersonatedGroups"], []any{"g1", apiserver.GroupAuthenticated}) {
					return true
				}
			}
			return false
		})
	})
}

// TestImpersonationHTTP sends the headers kubectl cannot: groups without a
// user (400), and extras with a percent-encoded key through client-go.
func TestImpersonationHTTP(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	list := srv.URL + "/apis/certificates.k8s.io/v1/certificatesigningrequests"

	res := do(t, admin, http.MethodGet, list, "", nil, "Impersonate-Group", "g1")
	want := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Reason: metav1.StatusReasonBadRequest, Code: http.StatusBadRequest,
		Message: `requested group "g1" without impersonating a user`,
	}
	if diff := cmp.Diff(want, res.status); res.code != http.StatusBadRequest || diff != "" {
		t.Errorf("GET with Impersonate-Group only: %d, Status (-want +got):\n%s", res.code, diff)
	}
	for _, h := range []string{"Impersonate-Uid", "Impersonate-Extra-Scopes"} {
		if res := do(t, admin, http.MethodGet, list, "", nil, h, "x"); res.code != http.StatusBadRequest || res.status.Reason != metav1.StatusReasonBadRequest {
			t.Errorf("GET with %s only: %d %s, want 400 BadRequest", h, res.code, res.status.Reason)
		}
	}
	// An empty Impersonate-User is no impersonation, as in Kubernetes.
	if res := do(t, admin, http.MethodGet, list, "", nil, "Impersonate-User", ""); res.code != http.StatusOK {
		t.Errorf("GET with an empty Impersonate-User: %d, want 200", res.code)
	}
	// Without credentials the requester is system:anonymous, who may
	// impersonate nobody, even on a public path.
	if res := do(t, httpClient(t, srv, ""), http.MethodGet, srv.URL+"/healthz", "", nil, "Impersonate-User", "bob"); res.code != http.StatusForbidden {
		t.Errorf("anonymous GET /healthz as bob: %d, want 403", res.code)
	}

	cfg := srv.AdminConfig()
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "bob",
		Extra:    map[string][]string{"acme.com/project": {"p1", "p2"}, "Scopes": {"openid"}},
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami as bob with extras: %v", err)
	}
	wantUser := authenticationv1.UserInfo{
		Username: "bob", Groups: []string{apiserver.GroupAuthenticated},
		Extra: map[string]authenticationv1.ExtraValue{"acme.com/project": {"p1", "p2"}, "scopes": {"openid"}},
	}
	if diff := cmp.Diff(wantUser, review.Status.UserInfo); diff != "" {
		t.Errorf("whoami as bob with extras (-want +got):\n%s", diff)
	}
}

// TestImpersonate checks the identity built from the headers and the
// attribute refused first, for a requester allowed everything and for one
// allowed only bob.
func TestImpersonate(t *testing.T) {
	t.Parallel()
	az := apiserver.NewRBACAuthorizer(loadPolicy(t, impersonationPolicy))
	admin := &apiserver.UserInfo{Name: "root", Groups: []string{apiserver.GroupMasters, apiserver.GroupAuthenticated}}
	alice := &apiserver.UserInfo{Name: "alice", Groups: []string{apiserver.GroupAuthenticated}}
	tests := []struct {
		name       string
		requester  *apiserver.UserInfo
		header     http.Header
		want       *apiserver.UserInfo
		wantReason metav1.StatusReason
		wantMsg    string
	}{
		{name: "no headers", requester: admin, header: http.Header{}},
		{name: "user only", requester: admin, header: http.Header{"Impersonate-User": {"bob"}},
			want: &apiserver.UserInfo{Name: "bob", Groups: []string{apiserver.GroupAuthenticated}}},
		{name: "groups given keep system:authenticated once", requester: admin,
			header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"g1", apiserver.GroupAuthenticated}},
			want:   &apiserver.UserInfo{Name: "bob", Groups: []string{"g1", apiserver.GroupAuthenticated}}},
		{name: "system:unauthenticated given gets no system:authenticated", requester: admin,
			header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {apiserver.GroupUnauthenticated}},
			want:   &apiserver.UserInfo{Name: "bob", Groups: []string{apiserver.GroupUnauthenticated}}},
		{name: "anonymous", requester: admin, header: http.Header{"Impersonate-User": {apiserver.UserAnonymous}},
			want: &apiserver.UserInfo{Name: apiserver.UserAnonymous, Groups: []string{apiserver.GroupUnauthenticated}}},
		{name: "anonymous with a group", requester: admin,
			header: http.Header{"Impersonate-User": {apiserver.UserAnonymous}, "Impersonate-Group": {"g1"}},
			want:   &apiserver.UserInfo{Name: apiserver.UserAnonymous, Groups: []string{"g1", apiserver.GroupUnauthenticated}}},
		{name: "service account", requester: admin, header: http.Header{"Impersonate-User": {"system:serviceaccount:ns1:robot"}},
			want: &apiserver.UserInfo{Name: "system:serviceaccount:ns1:robot",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns1", apiserver.GroupAuthenticated}}},
		{name: "service account with groups gets only those", requester: admin,
			header: http.Header{"Impersonate-User": {"system:serviceaccount:ns1:robot"}, "Impersonate-Group": {"g1"}},
			want:   &apiserver.UserInfo{Name: "system:serviceaccount:ns1:robot", Groups: []string{"g1", apiserver.GroupAuthenticated}}},
		{name: "not a service-account name is a user", requester: alice,
			header:     http.Header{"Impersonate-User": {"system:serviceaccount:NS:robot"}},
			wantReason: metav1.StatusReasonForbidden,
			wantMsg:    `users "system:serviceaccount:NS:robot" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{name: "uid and extras", requester: admin,
			header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Uid": {"u-1"},
				"Impersonate-Extra-Acme.com%2fproject": {"p1"}, "Impersonate-Extra-Scopes": {"a", "b"}},
			want: &apiserver.UserInfo{Name: "bob", UID: "u-1", Groups: []string{apiserver.GroupAuthenticated},
				Extra: map[string][]string{"acme.com/project": {"p1"}, "scopes": {"a", "b"}}}},
		{name: "alice as bob", requester: alice, header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Group": {"devs"}},
			want: &apiserver.UserInfo{Name: "bob", Groups: []string{"devs", apiserver.GroupAuthenticated}}},
		{name: "alice adds an extra", requester: alice, header: http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-Scopes": {"a<b"}},
			wantReason: metav1.StatusReasonForbidden,
			wantMsg:    `userextras.authentication.k8s.io "a<b" is forbidden: User "alice" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope`},
		{name: "the requester is escaped in the message", requester: &apiserver.UserInfo{Name: "<a&b>"}, header: http.Header{"Impersonate-User": {"bob"}},
			wantReason: metav1.StatusReasonForbidden,
			wantMsg:    `users "bob" is forbidden: User "&lt;a&amp;b&gt;" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{name: "groups without a user", requester: admin, header: http.Header{"Impersonate-Group": {"g1", "g2"}},
			wantReason: metav1.StatusReasonBadRequest, wantMsg: `requested group "g1", group "g2" without impersonating a user`},
		{name: "extra without a user", requester: admin, header: http.Header{"Impersonate-Extra-Scopes": {"a"}},
			wantReason: metav1.StatusReasonBadRequest, wantMsg: `requested extra "scopes"="a" without impersonating a user`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := apiserver.Impersonate(t.Context(), az, tc.requester, tc.header)
			if tc.wantReason != "" {
				if apierrors.ReasonForError(err) != tc.wantReason || err.Error() != tc.wantMsg {
					t.Errorf("Impersonate(%v) = %v, %v; want %s %q", tc.header, got, err, tc.wantReason, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Impersonate(%v): %v", tc.header, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Impersonate(%v) (-want +got):\n%s", tc.header, diff)
			}
		})
	}
}

// TestDefaultPolicyImpersonation checks that under the default policy only
// system:masters and kubeadm:cluster-admins may impersonate: every other
// subject the default bindings name is refused each kind of attribute.
func TestDefaultPolicyImpersonation(t *testing.T) {
	t.Parallel()
	p := apiserver.DefaultPolicy()
	az := apiserver.NewRBACAuthorizer(p)
	header := func(kind string) http.Header {
		h := http.Header{"Impersonate-User": {"bob"}}
		switch kind {
		case "serviceaccounts":
			h.Set("Impersonate-User", "system:serviceaccount:kube-system:robot")
		case "groups":
			h.Set("Impersonate-Group", "g1")
		case "uids":
			h.Set("Impersonate-Uid", "u-1")
		case "userextras":
			h.Set("Impersonate-Extra-Scopes", "openid")
		}
		return h
	}
	kinds := []string{"users", "serviceaccounts", "groups", "uids", "userextras"}
	for _, b := range p.ClusterRoleBindings {
		for _, s := range b.Subjects {
			u := &apiserver.UserInfo{Name: "someone", Groups: []string{apiserver.GroupAuthenticated}}
			switch s.Kind {
			case rbacv1.UserKind:
				u.Name = s.Name
			case rbacv1.GroupKind:
				u.Groups = append(u.Groups, s.Name)
			case rbacv1.ServiceAccountKind:
				u.Name = "system:serviceaccount:" + s.Namespace + ":" + s.Name
			}
			mayImpersonate := s.Kind == rbacv1.GroupKind && (s.Name == apiserver.GroupMasters || s.Name == apiserver.GroupKubeadmClusterAdmins)
			for _, kind := range kinds {
				_, err := apiserver.Impersonate(t.Context(), az, u, header(kind))
				if mayImpersonate && err != nil {
					t.Errorf("binding %s, subject %s %s: impersonate %s: %v, want allowed", b.Name, s.Kind, s.Name, kind, err)
				}
				if !mayImpersonate && !apierrors.IsForbidden(err) {
					t.Errorf("binding %s, subject %s %s: impersonate %s: %v, want Forbidden", b.Name, s.Kind, s.Name, kind, err)
				}
			}
		}
	}
	node := &apiserver.UserInfo{Name: "system:node:n1", Groups: []string{apiserver.GroupNodes, apiserver.GroupAuthenticated}}
	for _, kind := range kinds {
		if _, err := apiserver.Impersonate(t.Context(), az, node, header(kind)); !apierrors.IsForbidden(err) {
			t.Errorf("node impersonates %s: %v, want Forbidden", kind, err)
		}
	}
}

// FuzzImpersonate feeds arbitrary header values to Impersonate for a
// requester allowed everything: it never panics, refuses groups, UIDs and
// extras without a user with 400, and otherwise acts as exactly the user
// asked for, in system:authenticated or system:unauthenticated.
func FuzzImpersonate(f *testing.F) {
	f.Add("bob", "g1", "u-1", "Scopes", "openid")
	f.Add("", "g1", "", "", "")
	f.Add("system:serviceaccount:ns1:robot", "", "", "acme.com%2fproject", "p1")
	f.Add(apiserver.UserAnonymous, apiserver.GroupAuthenticated, "", "%zz", "x")
	az := apiserver.NewRBACAuthorizer(nil)
	admin := &apiserver.UserInfo{Name: "root", Groups: []string{apiserver.GroupMasters}}
	f.Fuzz(func(t *testing.T, user, group, uid, extraKey, extraValue string) {
		h := http.Header{}
		for name, v := range map[string]string{"Impersonate-User": user, "Impersonate-Group": group, "Impersonate-Uid": uid} {
			if v != "" {
				h[name] = []string{v}
			}
		}
		if extraKey != "" {
			h["Impersonate-Extra-"+extraKey] = []string{extraValue}
		}
		u, err := apiserver.Impersonate(t.Context(), az, admin, h)
		switch {
		case user == "" && len(h) > 0:
			if !apierrors.IsBadRequest(err) || err.Error() == "" {
				t.Fatalf("Impersonate(%v) = %v, %v; want BadRequest", h, u, err)
			}
		case user == "":
			if u != nil || err != nil {
				t.Fatalf("Impersonate(no headers) = %v, %v; want nil, nil", u, err)
			}
		case err != nil:
			t.Fatalf("Impersonate(%v) for system:masters: %v", h, err)
		case u.Name != user || !(u.IsMember(apiserver.GroupAuthenticated) || u.IsMember(apiserver.GroupUnauthenticated)):
			t.Fatalf("Impersonate(%v) = %+v, want user %q in system:authenticated or system:unauthenticated", h, u, user)
		}
	})
}
