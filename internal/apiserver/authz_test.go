package apiserver

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identities of the default-policy tests.
var (
	anonymous   = &UserInfo{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
	plainUser   = &UserInfo{Name: "jane", Groups: []string{"dev", GroupAuthenticated}}
	master      = &UserInfo{Name: "root", Groups: []string{GroupMasters, GroupAuthenticated}}
	kubeadmAdm  = &UserInfo{Name: "kubernetes-admin", Groups: []string{GroupKubeadmClusterAdmins, GroupAuthenticated}}
	bootstrap   = &UserInfo{Name: "system:bootstrap:abcdef", Groups: []string{GroupBootstrappers, GroupKubeadmNodeToken, GroupAuthenticated}}
	node        = &UserInfo{Name: "system:node:worker-1", Groups: []string{GroupNodes, GroupAuthenticated}}
	fakeNode    = &UserInfo{Name: "system:node:worker-1", Groups: []string{GroupAuthenticated}}
	controller  = &UserInfo{Name: UserKubeControllerManager, Groups: []string{GroupAuthenticated}}
	saCtrl      = &UserInfo{Name: ServiceAccountCertificateController, Groups: []string{"system:serviceaccounts", GroupAuthenticated}}
	monitor     = &UserInfo{Name: "prometheus", Groups: []string{"system:monitoring", GroupAuthenticated}}
	fakeMasters = &UserInfo{Name: GroupMasters, Groups: []string{GroupAuthenticated}} // a user named like the group
)

// csrAttrs returns attributes of a request on certificatesigningrequests.
func csrAttrs(u *UserInfo, verb, sub, name string) Attributes {
	return Attributes{User: u, Verb: verb, APIGroup: certificatesGroup, APIVersion: "v1",
		Resource: "certificatesigningrequests", Subresource: sub, Name: name, ResourceRequest: true}
}

// signerAttrs returns the admission check attributes for signerName.
func signerAttrs(u *UserInfo, verb, signer string) Attributes {
	return Attributes{User: u, Verb: verb, APIGroup: certificatesGroup, APIVersion: "*",
		Resource: "signers", Name: signer, ResourceRequest: true}
}

func pathAttrs(u *UserInfo, verb, path string) Attributes {
	return Attributes{User: u, Verb: verb, Path: path}
}

func reviewAttrs(u *UserInfo, group, resource string) Attributes {
	return Attributes{User: u, Verb: "create", APIGroup: group, APIVersion: "v1", Resource: resource, ResourceRequest: true}
}

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	az := NewRBACAuthorizer(DefaultPolicy())
	tests := []struct {
		name string
		a    Attributes
		want bool
	}{
		// system:masters: everything, even what no rule mentions.
		{"masters delete csr", csrAttrs(master, "delete", "", "x"), true},
		{"masters approve any signer", signerAttrs(master, "approve", "example.com/anything"), true},
		{"masters sign", signerAttrs(master, "sign", signerKubeAPIServerClient), true},
		{"masters odd verb on pods", Attributes{User: master, Verb: "escalate", Resource: "pods", ResourceRequest: true}, true},
		{"masters post /foo", pathAttrs(master, "post", "/foo"), true},
		{"user named system:masters is nobody", csrAttrs(fakeMasters, "delete", "", "x"), false},

		// kubeadm:cluster-admins via cluster-admin.
		{"kubeadm admin list", csrAttrs(kubeadmAdm, "list", "", ""), true},
		{"kubeadm admin update approval", csrAttrs(kubeadmAdm, "update", "approval", "csr-1"), true},
		{"kubeadm admin approve signer", signerAttrs(kubeadmAdm, "approve", signerKubeAPIServerClient), true},
		{"kubeadm admin deletecollection", csrAttrs(kubeadmAdm, "deletecollection", "", ""), true},
		{"kubeadm admin /metrics", pathAttrs(kubeadmAdm, "get", "/metrics"), true},

		// Anonymous: only the public info paths.
		{"anonymous /healthz", pathAttrs(anonymous, "get", "/healthz"), true},
		{"anonymous /livez", pathAttrs(anonymous, "get", "/livez"), true},
		{"anonymous /readyz", pathAttrs(anonymous, "get", "/readyz"), true},
		{"anonymous /version", pathAttrs(anonymous, "get", "/version"), true},
		{"anonymous /api", pathAttrs(anonymous, "get", "/api"), false},
		{"anonymous /apis/certificates.k8s.io", pathAttrs(anonymous, "get", "/apis/certificates.k8s.io"), false},
		{"anonymous /healthz/etcd", pathAttrs(anonymous, "get", "/healthz/etcd"), false},
		{"anonymous post /healthz", pathAttrs(anonymous, "post", "/healthz"), false},
		{"anonymous /metrics", pathAttrs(anonymous, "get", "/metrics"), false},
		{"anonymous create csr", csrAttrs(anonymous, "create", "", ""), false},
		{"anonymous whoami", reviewAttrs(anonymous, authenticationGroup, "selfsubjectreviews"), false},
		{"nil user is anonymous", pathAttrs(nil, "get", "/healthz"), true},
		{"nil user create csr", csrAttrs(nil, "create", "", ""), false},

		// Authenticated users: discovery, self reviews, creating CSRs.
		{"user /api", pathAttrs(plainUser, "get", "/api"), true},
		{"user /api/v1", pathAttrs(plainUser, "get", "/api/v1"), true},
		{"user /apis", pathAttrs(plainUser, "get", "/apis"), true},
		{"user /apis/certificates.k8s.io/v1", pathAttrs(plainUser, "get", "/apis/certificates.k8s.io/v1"), true},
		{"user /openapi/v3", pathAttrs(plainUser, "get", "/openapi/v3"), true},
		{"user /openapi/v3/apis/certificates.k8s.io/v1", pathAttrs(plainUser, "get", "/openapi/v3/apis/certificates.k8s.io/v1"), true},
		{"user /version", pathAttrs(plainUser, "get", "/version"), true},
		{"user /metrics", pathAttrs(plainUser, "get", "/metrics"), false},
		{"user /readyz/ping", pathAttrs(plainUser, "get", "/readyz/ping"), false},
		{"user /apis.evil", pathAttrs(plainUser, "get", "/apisx"), false},
		{"user whoami", reviewAttrs(plainUser, authenticationGroup, "selfsubjectreviews"), true},
		{"user can-i", reviewAttrs(plainUser, authorizationGroup, "selfsubjectaccessreviews"), true},
		{"user can-i --list", reviewAttrs(plainUser, authorizationGroup, "selfsubjectrulesreviews"), true},
		{"user subjectaccessreviews", reviewAttrs(plainUser, authorizationGroup, "subjectaccessreviews"), false},
		{"user selfsubjectreviews in wrong group", reviewAttrs(plainUser, authorizationGroup, "selfsubjectreviews"), false},
		{"user create csr", csrAttrs(plainUser, "create", "", ""), true},
		{"user get csr", csrAttrs(plainUser, "get", "", "csr-1"), false},
		{"user list csr", csrAttrs(plainUser, "list", "", ""), false},
		{"user watch csr", csrAttrs(plainUser, "watch", "", ""), false},
		{"user update csr", csrAttrs(plainUser, "update", "", "csr-1"), false},
		{"user patch csr", csrAttrs(plainUser, "patch", "", "csr-1"), false},
		{"user delete csr", csrAttrs(plainUser, "delete", "", "csr-1"), false},
		{"user update approval", csrAttrs(plainUser, "update", "approval", "csr-1"), false},
		{"user update status", csrAttrs(plainUser, "update", "status", "csr-1"), false},
		{"user create nodeclient", csrAttrs(plainUser, "create", "nodeclient", ""), false},
		{"user approve signer", signerAttrs(plainUser, "approve", signerKubeAPIServerClient), false},
		{"user sign signer", signerAttrs(plainUser, "sign", signerKubeAPIServerClient), false},
		{"user create csr in core group", Attributes{User: plainUser, Verb: "create", Resource: "certificatesigningrequests", ResourceRequest: true}, false},

		// Bootstrap tokens, as kubeadm binds them.
		{"bootstrap create csr", csrAttrs(bootstrap, "create", "", ""), true},
		{"bootstrap get csr", csrAttrs(bootstrap, "get", "", "node-csr-1"), true},
		{"bootstrap list csr", csrAttrs(bootstrap, "list", "", ""), true},
		{"bootstrap watch csr", csrAttrs(bootstrap, "watch", "", ""), true},
		{"bootstrap nodeclient", csrAttrs(bootstrap, "create", "nodeclient", ""), true},
		{"bootstrap selfnodeclient", csrAttrs(bootstrap, "create", "selfnodeclient", ""), false},
		{"bootstrap delete csr", csrAttrs(bootstrap, "delete", "", "node-csr-1"), false},
		{"bootstrap approve", csrAttrs(bootstrap, "update", "approval", "node-csr-1"), false},

		// Nodes: the Node authorizer's CSR rules and kubeadm's rotation binding.
		{"node create csr", csrAttrs(node, "create", "", ""), true},
		{"node get csr", csrAttrs(node, "get", "", "csr-1"), true},
		{"node watch csr", csrAttrs(node, "watch", "", ""), true},
		{"node selfnodeclient", csrAttrs(node, "create", "selfnodeclient", ""), true},
		{"node nodeclient", csrAttrs(node, "create", "nodeclient", ""), false},
		{"node delete csr", csrAttrs(node, "delete", "", "csr-1"), false},
		{"node update status", csrAttrs(node, "update", "status", "csr-1"), false},
		{"node without group gets no node rules", csrAttrs(fakeNode, "get", "", "csr-1"), false},
		{"system:node: alone is no node", csrAttrs(&UserInfo{Name: NodeUserPrefix, Groups: []string{GroupNodes}}, "get", "", "x"), false},

		// The certificate controller.
		{"controller list", csrAttrs(controller, "list", "", ""), true},
		{"controller watch", csrAttrs(controller, "watch", "", ""), true},
		{"controller delete", csrAttrs(controller, "delete", "", "csr-1"), true},
		{"controller update status", csrAttrs(controller, "update", "status", "csr-1"), true},
		{"controller update approval", csrAttrs(controller, "update", "approval", "csr-1"), true},
		{"controller update main resource", csrAttrs(controller, "update", "", "csr-1"), false},
		{"controller create", csrAttrs(controller, "create", "", ""), true}, // every authenticated user
		{"controller sign client", signerAttrs(controller, "sign", signerKubeAPIServerClient), true},
		{"controller sign kubelet client", signerAttrs(controller, "sign", signerKubeAPIServerClientKubelet), true},
		{"controller sign serving", signerAttrs(controller, "sign", signerKubeletServing), true},
		{"controller sign legacy", signerAttrs(controller, "sign", signerLegacyUnknown), true},
		{"controller sign other", signerAttrs(controller, "sign", "example.com/signer"), false},
		{"controller sign domain wildcard", signerAttrs(controller, "sign", "kubernetes.io/*"), false},
		{"controller approve kubelet client", signerAttrs(controller, "approve", signerKubeAPIServerClientKubelet), true},
		{"controller approve serving", signerAttrs(controller, "approve", signerKubeletServing), true},
		{"controller approve client signer", signerAttrs(controller, "approve", signerKubeAPIServerClient), false},
		{"controller approve legacy", signerAttrs(controller, "approve", signerLegacyUnknown), false},
		{"controller /metrics", pathAttrs(controller, "get", "/metrics"), false},
		{"certificate-controller service account sign", signerAttrs(saCtrl, "sign", signerKubeletServing), true},

		// Monitoring.
		{"monitoring /metrics", pathAttrs(monitor, "get", "/metrics"), true},
		{"monitoring /readyz/etcd", pathAttrs(monitor, "get", "/readyz/etcd"), true},
		{"monitoring post /metrics", pathAttrs(monitor, "post", "/metrics"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, reason, err := az.Authorize(t.Context(), tc.a)
			if err != nil {
				t.Fatalf("Authorize(%+v) error %v", tc.a, err)
			}
			if got != tc.want {
				t.Errorf("Authorize(%+v) = %v (%q), want %v", tc.a, got, reason, tc.want)
			}
			if got && reason == "" {
				t.Errorf("Authorize(%+v) allowed with an empty reason", tc.a)
			}
		})
	}
}

func TestAuthorizeReason(t *testing.T) {
	t.Parallel()
	az := NewRBACAuthorizer(DefaultPolicy())
	_, reason, _ := az.Authorize(t.Context(), csrAttrs(kubeadmAdm, "list", "", ""))
	want := `RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" of ClusterRole "cluster-admin" to Group "kubeadm:cluster-admins"`
	if reason != want {
		t.Errorf("reason = %q, want %q", reason, want)
	}
}

// TestRuleMatching covers each RBAC matching form on its own, with a
// policy granting exactly one rule to group "g".
func TestRuleMatching(t *testing.T) {
	t.Parallel()
	u := &UserInfo{Name: "u", Groups: []string{"g"}}
	res := func(verb, group, resource, sub, name string) Attributes {
		return Attributes{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		a    Attributes
		want bool
	}{
		{"verb exact", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, res("get", "", "pods", "", ""), true},
		{"verb other", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, res("list", "", "pods", "", ""), false},
		{"verb star", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}}, res("approve", "", "pods", "", ""), true},
		{"verb case-sensitive", rbacv1.PolicyRule{Verbs: []string{"Get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, res("get", "", "pods", "", ""), false},
		{"core group not other group", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, res("get", "apps", "pods", "", ""), false},
		{"group star", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"pods"}}, res("get", "apps", "pods", "", ""), true},
		{"no groups matches nothing", rbacv1.PolicyRule{Verbs: []string{"get"}, Resources: []string{"pods"}}, res("get", "", "pods", "", ""), false},
		{"resource does not cover subresource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"csrs"}}, res("update", "c", "csrs", "approval", ""), false},
		{"resource/subresource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"csrs/approval"}}, res("update", "c", "csrs", "approval", ""), true},
		{"resource/subresource not the resource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"csrs/approval"}}, res("update", "c", "csrs", "", ""), false},
		{"resource/subresource other sub", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"csrs/approval"}}, res("update", "c", "csrs", "status", ""), false},
		{"star covers subresources", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"*"}}, res("update", "c", "csrs", "status", ""), true},
		{"star/sub", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"*/status"}}, res("update", "c", "csrs", "status", ""), true},
		{"star/sub not the resource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"*/status"}}, res("update", "c", "csrs", "", ""), false},
		{"star/sub other sub", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"c"}, Resources: []string{"*/status"}}, res("update", "c", "csrs", "approval", ""), false},
		{"resourceNames exact", rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{"c"}, Resources: []string{"signers"}, ResourceNames: []string{"example.com/*"}}, res("approve", "c", "signers", "", "example.com/*"), true},
		{"resourceNames no glob", rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{"c"}, Resources: []string{"signers"}, ResourceNames: []string{"example.com/*"}}, res("approve", "c", "signers", "", "example.com/a"), false},
		{"resourceNames exclude unnamed", rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{"c"}, Resources: []string{"csrs"}, ResourceNames: []string{"a"}}, res("list", "c", "csrs", "", ""), false},
		{"no resourceNames covers all", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"c"}, Resources: []string{"csrs"}}, res("get", "c", "csrs", "", "anything"), true},
		{"url exact", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, pathAttrs(u, "get", "/healthz"), true},
		{"url exact not prefix", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, pathAttrs(u, "get", "/healthz/x"), false},
		{"url prefix star", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz/*"}}, pathAttrs(u, "get", "/healthz/x/y"), true},
		{"url prefix star not parent", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz/*"}}, pathAttrs(u, "get", "/healthz"), false},
		{"url star", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"*"}}, pathAttrs(u, "get", "/anything"), true},
		{"url rule does not grant resources", rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}, res("get", "", "pods", "", ""), false},
		{"resource rule does not grant urls", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}, pathAttrs(u, "get", "/healthz"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &Policy{
				ClusterRoles:        []rbacv1.ClusterRole{clusterRole("r", tc.rule)},
				ClusterRoleBindings: []rbacv1.ClusterRoleBinding{clusterRoleBinding("b", "r", group("g"))},
			}
			got, _, err := NewRBACAuthorizer(p).Authorize(t.Context(), tc.a)
			if err != nil || got != tc.want {
				t.Errorf("Authorize(%+v) with rule %v = %v, %v; want %v", tc.a, tc.rule.String(), got, err, tc.want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	rule := rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}
	tests := []struct {
		name    string
		subject rbacv1.Subject
		user    *UserInfo
		want    bool
	}{
		{"user", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}, &UserInfo{Name: "jane"}, true},
		{"user other", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}, &UserInfo{Name: "Jane"}, false},
		{"user is not a group", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dev"}, &UserInfo{Name: "x", Groups: []string{"dev"}}, false},
		{"group", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "dev"}, &UserInfo{Name: "x", Groups: []string{"ops", "dev"}}, true},
		{"group is not a user", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "dev"}, &UserInfo{Name: "dev"}, false},
		{"service account", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "ns", Name: "sa"}, &UserInfo{Name: "system:serviceaccount:ns:sa"}, true},
		{"service account other ns", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "ns", Name: "sa"}, &UserInfo{Name: "system:serviceaccount:other:sa"}, false},
		{"empty user name", rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName}, &UserInfo{}, false},
		{"unknown kind", rbacv1.Subject{Kind: "Robot", Name: "jane"}, &UserInfo{Name: "jane"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &Policy{
				ClusterRoles:        []rbacv1.ClusterRole{clusterRole("r", rule)},
				ClusterRoleBindings: []rbacv1.ClusterRoleBinding{clusterRoleBinding("b", "r", tc.subject)},
			}
			got, _, _ := NewRBACAuthorizer(p).Authorize(t.Context(), pathAttrs(tc.user, "get", "/x"))
			if got != tc.want {
				t.Errorf("subject %+v, user %+v: allowed = %v, want %v", tc.subject, tc.user, got, tc.want)
			}
		})
	}
}

func TestMissingRoleGrantsNothing(t *testing.T) {
	t.Parallel()
	p := &Policy{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{clusterRoleBinding("b", "nope", group("g"))}}
	got, _, err := NewRBACAuthorizer(p).Authorize(t.Context(), pathAttrs(&UserInfo{Name: "u", Groups: []string{"g"}}, "get", "/x"))
	if got || err != nil {
		t.Errorf("Authorize = %v, %v; want false, nil", got, err)
	}
}

// TestAuthorizerSnapshot checks that changing a Policy after building an
// authorizer does not change its decisions.
func TestAuthorizerSnapshot(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	az := NewRBACAuthorizer(p)
	for i := range p.ClusterRoles {
		if p.ClusterRoles[i].Name == RoleCSRRequester {
			p.ClusterRoles[i].Rules[0].Verbs[0] = "delete"
		}
	}
	p.ClusterRoleBindings = nil
	if got, _, _ := az.Authorize(t.Context(), csrAttrs(plainUser, "create", "", "")); !got {
		t.Errorf("after changing the policy, create csr = false, want the snapshot's true")
	}
}

func TestAggregation(t *testing.T) {
	t.Parallel()
	approver := clusterRole("approver", rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{certificatesGroup}, Resources: []string{"signers"}})
	approver.Labels["example.com/aggregate-to-ops"] = "true"
	reader := clusterRole("reader", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests"}})
	reader.Labels["example.com/aggregate-to-mid"] = "true"
	mid := clusterRole("mid")
	mid.Labels["example.com/aggregate-to-ops"] = "true"
	mid.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"example.com/aggregate-to-mid": "true"}}}}
	ops := clusterRole("ops")
	ops.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"example.com/aggregate-to-ops": "true"}}}}
	p := &Policy{
		// ops comes before mid, so reaching reader's rule needs a second pass.
		ClusterRoles:        []rbacv1.ClusterRole{ops, mid, approver, reader},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{clusterRoleBinding("ops", "ops", group("ops"))},
	}
	u := &UserInfo{Name: "o", Groups: []string{"ops"}}
	az := NewRBACAuthorizer(p)
	for _, tc := range []struct {
		a    Attributes
		want bool
	}{
		{signerAttrs(u, "approve", "example.com/x"), true},
		{csrAttrs(u, "get", "", "x"), true},
		{csrAttrs(u, "delete", "", "x"), false},
	} {
		if got, _, _ := az.Authorize(t.Context(), tc.a); got != tc.want {
			t.Errorf("aggregated ops: Authorize(%s %s) = %v, want %v", tc.a.Verb, tc.a.Resource, got, tc.want)
		}
	}
}

// TestSignerWildcardByCaller shows the admission pattern: the caller asks
// for the exact signer name, then for "<domain>/*"; a rule naming the
// wildcard grants every signer of the domain only through the second ask.
func TestSignerWildcardByCaller(t *testing.T) {
	t.Parallel()
	p, err := ParsePolicy([]byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: example-approver}
rules:
- {verbs: [approve], apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: ["example.com/*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: example-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: example-approver}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: jane}]
`))
	if err != nil {
		t.Fatal(err)
	}
	az := NewRBACAuthorizer(MergePolicy(DefaultPolicy(), p))
	mayApprove := func(signer string) bool {
		if ok, _, _ := az.Authorize(t.Context(), signerAttrs(plainUser, "approve", signer)); ok {
			return true
		}
		domain, _, _ := strings.Cut(signer, "/")
		ok, _, _ := az.Authorize(t.Context(), signerAttrs(plainUser, "approve", domain+"/*"))
		return ok
	}
	for signer, want := range map[string]bool{
		"example.com/a":           true,
		"example.com/b/c":         true,
		"example.org/a":           false,
		signerKubeAPIServerClient: false,
	} {
		if got := mayApprove(signer); got != want {
			t.Errorf("jane may approve %s = %v, want %v", signer, got, want)
		}
	}
}

func BenchmarkRBACAuthorize(b *testing.B) {
	az := NewRBACAuthorizer(DefaultPolicy())
	for _, bc := range []struct {
		name string
		a    Attributes
	}{
		{"admin list", csrAttrs(kubeadmAdm, "list", "", "")},
		{"controller sign", signerAttrs(controller, "sign", signerKubeletServing)},
		{"user denied", csrAttrs(plainUser, "delete", "", "x")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, _, _ = az.Authorize(b.Context(), bc.a)
			}
		})
	}
}
