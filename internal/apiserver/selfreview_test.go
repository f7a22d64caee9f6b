package apiserver

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestSelfSubjectReview(t *testing.T) {
	t.Parallel()
	u := &UserInfo{Name: "alice", UID: "42", Groups: []string{"dev", GroupAuthenticated},
		Extra: map[string][]string{ExtraCredentialID: {"X509SHA256=ab"}}}
	got := SelfSubjectReview(u)
	want := authenticationv1.UserInfo{Username: "alice", UID: "42", Groups: []string{"dev", GroupAuthenticated},
		Extra: map[string]authenticationv1.ExtraValue{ExtraCredentialID: {"X509SHA256=ab"}}}
	if diff := cmp.Diff(want, got.Status.UserInfo); diff != "" {
		t.Errorf("SelfSubjectReview user (-want +got):\n%s", diff)
	}
	if got.Kind != "SelfSubjectReview" || got.APIVersion != "authentication.k8s.io/v1" {
		t.Errorf("type = %s %s, want authentication.k8s.io/v1 SelfSubjectReview", got.APIVersion, got.Kind)
	}
	got.Status.UserInfo.Groups[0] = "changed"
	got.Status.UserInfo.Extra[ExtraCredentialID][0] = "changed"
	if u.Groups[0] != "dev" || u.Extra[ExtraCredentialID][0] != "X509SHA256=ab" {
		t.Errorf("changing the review changed the user: %+v", u)
	}
	if r := SelfSubjectReview(&UserInfo{Name: "bob", Groups: []string{GroupAuthenticated}}); r.Status.UserInfo.Extra != nil {
		t.Errorf("user without extra: Extra = %v, want nil (kubectl prints no Extra rows)", r.Status.UserInfo.Extra)
	}
}

func TestSelfSubjectAccessReview(t *testing.T) {
	t.Parallel()
	p, err := ParsePolicy([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: example-approver}
rules:
- {verbs: [approve], apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: [example.com/signer]}
- {verbs: [update], apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: example-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: example-approver}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: approvers}]
`))
	if err != nil {
		t.Fatal(err)
	}
	az := NewRBACAuthorizer(MergePolicy(DefaultPolicy(), p))
	approver := &UserInfo{Name: "amy", Groups: []string{"approvers", GroupAuthenticated}}
	resource := func(ra authorizationv1.ResourceAttributes) authorizationv1.SelfSubjectAccessReviewSpec {
		return authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}
	}
	path := func(verb, p string) authorizationv1.SelfSubjectAccessReviewSpec {
		return authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: verb, Path: p}}
	}
	tests := []struct {
		name string
		user *UserInfo
		spec authorizationv1.SelfSubjectAccessReviewSpec
		want bool
	}{
		// kubectl auth can-i create csr (namespace "default" is sent and ignored)
		{"user create csr", plainUser, resource(authorizationv1.ResourceAttributes{Namespace: "default", Verb: "create", Group: certificatesGroup, Resource: "certificatesigningrequests"}), true},
		{"user list csr", plainUser, resource(authorizationv1.ResourceAttributes{Namespace: "default", Verb: "list", Group: certificatesGroup, Resource: "certificatesigningrequests"}), false},
		{"admin approve csr", kubeadmAdm, resource(authorizationv1.ResourceAttributes{Namespace: "default", Verb: "approve", Group: certificatesGroup, Resource: "certificatesigningrequests"}), true},
		{"approver update approval", approver, resource(authorizationv1.ResourceAttributes{Verb: "update", Group: certificatesGroup, Resource: "certificatesigningrequests", Subresource: "approval"}), true},
		{"approver update main resource", approver, resource(authorizationv1.ResourceAttributes{Verb: "update", Group: certificatesGroup, Resource: "certificatesigningrequests"}), false},
		{"approver approve its signer", approver, resource(authorizationv1.ResourceAttributes{Verb: "approve", Group: certificatesGroup, Resource: "signers", Name: "example.com/signer"}), true},
		{"approver approve other signer", approver, resource(authorizationv1.ResourceAttributes{Verb: "approve", Group: certificatesGroup, Resource: "signers", Name: signerKubeAPIServerClient}), false},
		// kubectl auth can-i approve signers.certificates.k8s.io/example.com/signer
		{"resource.group without group", approver, resource(authorizationv1.ResourceAttributes{Namespace: "default", Verb: "approve", Resource: "signers.certificates.k8s.io", Name: "example.com/signer"}), true},
		{"resource.group names the wrong group", approver, resource(authorizationv1.ResourceAttributes{Verb: "approve", Resource: "signers.example.com", Name: "example.com/signer"}), false},
		{"user get /healthz", plainUser, path("get", "/healthz"), true},
		{"user GET /version", plainUser, path("GET", "/version"), true},
		{"user get /metrics", plainUser, path("get", "/metrics"), false},
		{"anonymous get /readyz", nil, path("get", "/readyz"), true},
		{"anonymous get /apis", nil, path("get", "/apis"), false},
		{"masters anything", master, resource(authorizationv1.ResourceAttributes{Verb: "sign", Group: certificatesGroup, Resource: "signers", Name: "x/y"}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := SelfSubjectAccessReview(t.Context(), az, tc.user, tc.spec)
			if err != nil {
				t.Fatalf("SelfSubjectAccessReview: %v", err)
			}
			if st.Allowed != tc.want || st.Denied || st.EvaluationError != "" {
				t.Errorf("status = %+v, want allowed %v", st, tc.want)
			}
			if st.Allowed && st.Reason == "" {
				t.Errorf("allowed without a reason")
			}
		})
	}
}

func TestSelfSubjectAccessReviewInvalid(t *testing.T) {
	t.Parallel()
	az := NewRBACAuthorizer(nil)
	tests := []struct {
		name       string
		spec       authorizationv1.SelfSubjectAccessReviewSpec
		wantFields []string
	}{
		{"neither", authorizationv1.SelfSubjectAccessReviewSpec{}, []string{"spec.resourceAttributes"}},
		{"both", authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes:    &authorizationv1.ResourceAttributes{Verb: "get", Resource: "x"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/x"},
		}, []string{"spec.resourceAttributes"}},
		{"no verb", authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Resource: "x"}},
			[]string{"spec.resourceAttributes.verb"}},
		{"relative path", authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "healthz"}},
			[]string{"spec.nonResourceAttributes.path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := SelfSubjectAccessReview(t.Context(), az, plainUser, tc.spec)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("SelfSubjectAccessReview = %v, want 422 Invalid", err)
			}
			st := err.(apierrors.APIStatus).Status()
			if st.Code != http.StatusUnprocessableEntity || st.Details == nil || st.Details.Kind != "SelfSubjectAccessReview" {
				t.Errorf("status = %+v, want code 422 kind SelfSubjectAccessReview", st)
			}
			var fields []string
			for _, c := range st.Details.Causes {
				fields = append(fields, c.Field)
			}
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Errorf("cause fields (-want +got):\n%s", diff)
			}
		})
	}
}

// hasResourceRule reports whether st lists a rule with exactly these
// verbs, groups, resources and names.
func hasResourceRule(st authorizationv1.SubjectRulesReviewStatus, want authorizationv1.ResourceRule) bool {
	for _, r := range st.ResourceRules {
		if cmp.Equal(r, want) {
			return true
		}
	}
	return false
}

func hasNonResourceRule(st authorizationv1.SubjectRulesReviewStatus, want authorizationv1.NonResourceRule) bool {
	for _, r := range st.NonResourceRules {
		if cmp.Equal(r, want) {
			return true
		}
	}
	return false
}

func TestSelfSubjectRulesReview(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	everything := authorizationv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	allURLs := authorizationv1.NonResourceRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}
	createCSR := authorizationv1.ResourceRule{Verbs: []string{"create"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests"}}
	whoami := authorizationv1.ResourceRule{Verbs: []string{"create"}, APIGroups: []string{authenticationGroup}, Resources: []string{"selfsubjectreviews"}}
	publicInfo := authorizationv1.NonResourceRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}}
	selfNode := authorizationv1.ResourceRule{Verbs: []string{"create"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests/selfnodeclient"}}
	nodeCSR := authorizationv1.ResourceRule{Verbs: []string{"create", "get", "list", "watch"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests"}}

	t.Run("plain user", func(t *testing.T) {
		t.Parallel()
		st := SelfSubjectRulesReview(p, plainUser, "default")
		if !hasResourceRule(st, createCSR) || !hasResourceRule(st, whoami) || !hasNonResourceRule(st, publicInfo) {
			t.Errorf("rules %+v lack create csr, whoami or public info", st)
		}
		if hasResourceRule(st, everything) || hasNonResourceRule(st, allURLs) || hasResourceRule(st, nodeCSR) {
			t.Errorf("plain user's rules %+v include more than granted", st)
		}
		if st.Incomplete {
			t.Errorf("Incomplete with error %q", st.EvaluationError)
		}
		// Checking every listed rule with the authorizer keeps review and
		// authorizer in agreement.
		az := NewRBACAuthorizer(p)
		for _, r := range st.ResourceRules {
			a := Attributes{User: plainUser, Verb: r.Verbs[0], APIGroup: r.APIGroups[0], Resource: r.Resources[0], ResourceRequest: true}
			if ok, _, _ := az.Authorize(t.Context(), a); !ok {
				t.Errorf("listed rule %+v is denied by the authorizer", r)
			}
		}
	})
	t.Run("masters", func(t *testing.T) {
		t.Parallel()
		st := SelfSubjectRulesReview(p, master, "")
		if !hasResourceRule(st, everything) || !hasNonResourceRule(st, allURLs) {
			t.Errorf("masters rules %+v lack everything", st)
		}
		n := 0
		for _, r := range st.ResourceRules {
			if cmp.Equal(r, everything) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("everything listed %d times, want once", n)
		}
	})
	t.Run("kubeadm admin", func(t *testing.T) {
		t.Parallel()
		if st := SelfSubjectRulesReview(p, kubeadmAdm, ""); !hasResourceRule(st, everything) {
			t.Errorf("kubeadm admin rules %+v lack cluster-admin", st)
		}
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		st := SelfSubjectRulesReview(p, node, "")
		if !hasResourceRule(st, nodeCSR) || !hasResourceRule(st, selfNode) {
			t.Errorf("node rules %+v lack node CSR rules or selfnodeclient", st)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		st := SelfSubjectRulesReview(p, nil, "")
		if len(st.ResourceRules) != 0 || len(st.NonResourceRules) != 1 || !hasNonResourceRule(st, publicInfo) {
			t.Errorf("anonymous rules = %+v, want only public info", st)
		}
	})
	t.Run("missing role", func(t *testing.T) {
		t.Parallel()
		broken := MergePolicy(p, &Policy{ClusterRoleBindings: []rbacv1.ClusterRoleBinding{clusterRoleBinding("b", "nope", group("dev"))}})
		st := SelfSubjectRulesReview(broken, plainUser, "")
		if !st.Incomplete || st.EvaluationError == "" {
			t.Errorf("missing role: Incomplete %v error %q, want true and a message", st.Incomplete, st.EvaluationError)
		}
		if st := SelfSubjectRulesReview(broken, kubeadmAdm, ""); st.Incomplete {
			t.Errorf("a user the broken binding does not name is Incomplete")
		}
	})
}
