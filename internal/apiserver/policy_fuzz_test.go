package apiserver

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// FuzzParsePolicy checks that ParsePolicy never panics, that every error
// is a *PolicyError with problems, and that what it accepts is valid,
// usable by the authorizer and the rules review, and survives a
// marshal/parse round trip unchanged.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(approverYAML))
	f.Add([]byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"verbs":["get"],"nonResourceURLs":["/x*"]}]}`))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: r}}\n"))
	f.Add([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBindingList\nitems:\n- metadata: {name: b}\n  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"))
	f.Add([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, labels: {a: b}}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {x: y}}]}\n"))
	f.Add([]byte(aliasBomb))
	f.Add([]byte("---\n---\n# c\n"))
	f.Add([]byte("apiVersion: v1\napiVersion: v1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			pe, ok := errors.AsType[*PolicyError](err)
			if !ok || len(pe.Problems) == 0 {
				t.Fatalf("ParsePolicy error %v is not a *PolicyError with problems", err)
			}
			return
		}
		for i := range p.ClusterRoles {
			if errs := validateClusterRole(&p.ClusterRoles[i]); len(errs) > 0 {
				t.Fatalf("accepted invalid ClusterRole: %v", errs.ToAggregate())
			}
		}
		for i := range p.ClusterRoleBindings {
			if errs := validateClusterRoleBinding(&p.ClusterRoleBindings[i]); len(errs) > 0 {
				t.Fatalf("accepted invalid ClusterRoleBinding: %v", errs.ToAggregate())
			}
		}
		merged := MergePolicy(DefaultPolicy(), p)
		az := NewRBACAuthorizer(merged)
		u := &UserInfo{Name: "u", Groups: []string{"g", GroupAuthenticated}}
		if _, _, err := az.Authorize(t.Context(), csrAttrs(u, "get", "", "x")); err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		_ = SelfSubjectRulesReview(merged, u, "")

		again, err := ParsePolicy(marshalPolicy(t, p))
		if err != nil {
			t.Fatalf("re-parse of accepted policy: %v", err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("round trip changed the policy (-first +second):\n%s", diff)
		}
	})
}

// marshalPolicy writes p as YAML documents with explicit types.
func marshalPolicy(t *testing.T, p *Policy) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, r := range p.ClusterRoles {
		r.APIVersion, r.Kind = rbacv1.SchemeGroupVersion.String(), "ClusterRole"
		writeDoc(t, &b, r)
	}
	for _, rb := range p.ClusterRoleBindings {
		rb.APIVersion, rb.Kind = rbacv1.SchemeGroupVersion.String(), "ClusterRoleBinding"
		writeDoc(t, &b, rb)
	}
	return b.Bytes()
}

func writeDoc(t *testing.T, b *bytes.Buffer, obj any) {
	t.Helper()
	y, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	b.WriteString("---\n")
	b.Write(y)
}
