package apiserver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const approverYAML = `# lets the security team approve client certificates
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: csr-approver
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [get, list, watch]
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests/approval]
  verbs: [update]
- apiGroups: [certificates.k8s.io]
  resources: [signers]
  resourceNames: [kubernetes.io/kube-apiserver-client]
  verbs: [approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: security-approves
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: csr-approver
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: security
`

func writePolicy(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPolicyFile(t *testing.T) {
	t.Parallel()
	sec := &UserInfo{Name: "sam", Groups: []string{"security", GroupAuthenticated}}
	tests := []struct {
		name    string
		content string
		checks  []struct {
			a    Attributes
			want bool
		}
	}{{
		name:    "YAML documents add to the defaults",
		content: approverYAML,
		checks: []struct {
			a    Attributes
			want bool
		}{
			{csrAttrs(sec, "list", "", ""), true},
			{csrAttrs(sec, "update", "approval", "csr-1"), true},
			{signerAttrs(sec, "approve", signerKubeAPIServerClient), true},
			{signerAttrs(sec, "approve", signerKubeletServing), false},
			{csrAttrs(sec, "update", "status", "csr-1"), false},
			{csrAttrs(plainUser, "list", "", ""), false},
			{csrAttrs(kubeadmAdm, "delete", "", "x"), true}, // defaults kept
			{csrAttrs(sec, "create", "", ""), true},         // defaults kept
		},
	}, {
		name: "an object named like a default replaces it",
		content: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubepki:authenticated-csr-requesters}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubepki:certificatesigningrequests:requester}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: employees}]
`,
		checks: []struct {
			a    Attributes
			want bool
		}{
			{csrAttrs(plainUser, "create", "", ""), false},
			{csrAttrs(&UserInfo{Name: "e", Groups: []string{"employees"}}, "create", "", ""), true},
			{csrAttrs(bootstrap, "create", "", ""), true},
		},
	}, {
		name: "JSON objects",
		content: `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},
 "rules":[{"verbs":["get"],"nonResourceURLs":["/metrics"]}]}
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"r"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"jane"}]}`,
		checks: []struct {
			a    Attributes
			want bool
		}{
			{pathAttrs(plainUser, "get", "/metrics"), true},
			{pathAttrs(sec, "get", "/metrics"), false},
		},
	}, {
		name: "v1 List",
		content: `apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: r}
  rules: [{verbs: [get], nonResourceURLs: [/metrics]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: b}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: security}]
`,
		checks: []struct {
			a    Attributes
			want bool
		}{{pathAttrs(sec, "get", "/metrics"), true}},
	}, {
		name: "typed lists whose items omit their type",
		content: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleList
items:
- metadata: {name: r}
  rules: [{verbs: [get], nonResourceURLs: [/metrics]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBindingList
items:
- metadata: {name: b}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: security}]
`,
		checks: []struct {
			a    Attributes
			want bool
		}{{pathAttrs(sec, "get", "/metrics"), true}},
	}, {
		name:    "empty file keeps the defaults",
		content: "# nothing yet\n---\n",
		checks: []struct {
			a    Attributes
			want bool
		}{{csrAttrs(plainUser, "create", "", ""), true}, {csrAttrs(plainUser, "list", "", ""), false}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := LoadPolicyFile(writePolicy(t, tc.content))
			if err != nil {
				t.Fatalf("LoadPolicyFile: %v", err)
			}
			az := NewRBACAuthorizer(p)
			for _, c := range tc.checks {
				got, _, _ := az.Authorize(t.Context(), c.a)
				if got != c.want {
					t.Errorf("Authorize(%s %s %s/%s %s %s) = %v, want %v", c.a.User.Name, c.a.Verb, c.a.Resource, c.a.Subresource, c.a.Name, c.a.Path, got, c.want)
				}
			}
		})
	}
}

// problem is the part of a PolicyProblem a test pins down.
type problem struct {
	Document, Item int
	Field          string
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	role := func(body string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n" + body
	}
	binding := func(body string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n" + body
	}
	okRef := "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
	tests := []struct {
		name    string
		content string
		want    []problem
	}{
		{"unknown field", role("rules: [{verb: [get], apiGroups: [''], resources: [pods]}]\n"),
			[]problem{{1, 0, "rules[0].verb"}, {1, 0, "rules[0].verbs"}}},
		{"unknown top-level field", role("rulez: []\n"), []problem{{1, 0, "rulez"}}},
		{"duplicate field", role("rules: []\nrules: []\n"), []problem{{1, 0, ""}}},
		{"wrong type", role("rules: {verbs: [get]}\n"), []problem{{1, 0, ""}}},
		{"missing apiVersion", "kind: ClusterRole\nmetadata: {name: r}\n", []problem{{1, 0, ""}}},
		{"unknown kind", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", []problem{{1, 0, ""}}},
		{"old rbac version", "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: r}\n", []problem{{1, 0, ""}}},
		{"namespaced Role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: x}\n", []problem{{1, 0, "kind"}}},
		{"namespaced RoleBinding", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: r}\n", []problem{{1, 0, "kind"}}},
		{"missing name", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nrules: []\n", []problem{{1, 0, "metadata.name"}}},
		{"namespace on a cluster role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: default}\n", []problem{{1, 0, "metadata.namespace"}}},
		{"rule without verbs", role("rules: [{apiGroups: [''], resources: [pods]}]\n"), []problem{{1, 0, "rules[0].verbs"}}},
		{"rule without groups and resources", role("rules: [{verbs: [get]}]\n"), []problem{{1, 0, "rules[0].apiGroups"}, {1, 0, "rules[0].resources"}}},
		{"rule mixing urls and resources", role("rules: [{verbs: [get], apiGroups: [''], resources: [pods], nonResourceURLs: [/x]}]\n"), []problem{{1, 0, "rules[0].nonResourceURLs"}}},
		{"url not absolute", role("rules: [{verbs: [get], nonResourceURLs: [healthz]}]\n"), []problem{{1, 0, "rules[0].nonResourceURLs[0]"}}},
		{"url star inside", role("rules: [{verbs: [get], nonResourceURLs: ['/a*/b']}]\n"), []problem{{1, 0, "rules[0].nonResourceURLs[0]"}}},
		{"bad aggregation selector", role("aggregationRule: {clusterRoleSelectors: [{matchExpressions: [{key: a, operator: Bogus}]}]}\n"),
			[]problem{{1, 0, "aggregationRule.clusterRoleSelectors[0]"}}},
		{"roleRef to a Role", binding("roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n"), []problem{{1, 0, "roleRef.kind"}}},
		{"roleRef wrong group", binding("roleRef: {apiGroup: rbac, kind: ClusterRole, name: r}\n"), []problem{{1, 0, "roleRef.apiGroup"}}},
		{"roleRef without name", binding("roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole}\n"), []problem{{1, 0, "roleRef.name"}}},
		{"subject unknown kind", binding(okRef + "subjects: [{kind: Robot, name: x}]\n"), []problem{{1, 0, "subjects[0].kind"}}},
		{"subject without name", binding(okRef + "subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io}]\n"), []problem{{1, 0, "subjects[0].name"}}},
		{"user subject without apiGroup", binding(okRef + "subjects: [{kind: User, name: jane}]\n"), []problem{{1, 0, "subjects[0].apiGroup"}}},
		{"service account without namespace", binding(okRef + "subjects: [{kind: ServiceAccount, name: sa}]\n"), []problem{{1, 0, "subjects[0].namespace"}}},
		{"same object twice", role("rules: []\n") + "---\n" + role("rules: []\n"), []problem{{2, 0, "metadata.name"}}},
		{"problems in several documents", role("rules: [{}]\n") + "---\n" + binding("roleRef: {}\n"),
			[]problem{{1, 0, "rules[0].verbs"}, {1, 0, "rules[0].apiGroups"}, {1, 0, "rules[0].resources"},
				{2, 0, "roleRef.apiGroup"}, {2, 0, "roleRef.kind"}, {2, 0, "roleRef.name"}}},
		{"bad item in a List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata: {name: r}\n  rulez: []\n",
			[]problem{{1, 1, ""}, {1, 2, "rulez"}}},
		{"nested List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n", []problem{{1, 1, "kind"}}},
		{"wrong item kind in a typed list", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleList\nitems:\n- {kind: ClusterRoleBinding, metadata: {name: b}}\n", []problem{{1, 1, "kind"}}},
		{"malformed YAML", "apiVersion: [\n", []problem{{1, 0, ""}}},
		{"duplicate YAML key", "apiVersion: v1\napiVersion: v1\nkind: List\n", []problem{{1, 0, ""}}},
		{"malformed JSON", `{"apiVersion": "v1",`, []problem{{1, 0, ""}}},
		{"scalar document", "just words\n", []problem{{1, 0, ""}}},
		{"null document", "null\n", []problem{{1, 0, ""}}},
		{"YAML alias bomb", aliasBomb, []problem{{1, 0, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy([]byte(tc.content))
			pe, ok := errors.AsType[*PolicyError](err)
			if !ok {
				t.Fatalf("ParsePolicy = %v, %v; want a *PolicyError", p, err)
			}
			var got []problem
			for _, pr := range pe.Problems {
				got = append(got, problem{pr.Document, pr.Item, pr.Field})
				if pr.Detail == "" {
					t.Errorf("problem %+v has no detail", pr)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

// aliasBomb is a "billion laughs" document: a few lines that expand to
// billions of nodes if aliases are followed without limit.
const aliasBomb = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestPolicyErrorMessage(t *testing.T) {
	t.Parallel()
	path := writePolicy(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{verb: [get]}]\n")
	_, err := LoadPolicyFile(path)
	pe, ok := errors.AsType[*PolicyError](err)
	if !ok {
		t.Fatalf("LoadPolicyFile = %v, want *PolicyError", err)
	}
	if pe.File != path {
		t.Errorf("File = %q, want %q", pe.File, path)
	}
	msg := err.Error()
	for _, want := range []string{path, `document 1 (ClusterRole "r"): rules[0].verb: unknown field`, "rules[0].verbs: Required value"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestLoadPolicyFileUnreadable(t *testing.T) {
	t.Parallel()
	_, err := LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadPolicyFile(missing) = %v, want fs.ErrNotExist", err)
	}
	big := writePolicy(t, "# "+strings.Repeat("x", MaxPolicyFileBytes)+"\n")
	if _, err := LoadPolicyFile(big); err == nil {
		t.Errorf("LoadPolicyFile(%d bytes) = nil error, want too large", MaxPolicyFileBytes+3)
	}
}

func TestMergePolicyLeavesInputs(t *testing.T) {
	t.Parallel()
	base := DefaultPolicy()
	over, err := ParsePolicy([]byte(approverYAML))
	if err != nil {
		t.Fatal(err)
	}
	nBase, nOver := len(base.ClusterRoles), len(over.ClusterRoles)
	merged := MergePolicy(base, over)
	if len(merged.ClusterRoles) != nBase+1 || len(merged.ClusterRoleBindings) != len(base.ClusterRoleBindings)+1 {
		t.Errorf("merged has %d roles, %d bindings; want %d, %d", len(merged.ClusterRoles), len(merged.ClusterRoleBindings), nBase+1, len(base.ClusterRoleBindings)+1)
	}
	if len(base.ClusterRoles) != nBase || len(over.ClusterRoles) != nOver {
		t.Errorf("MergePolicy changed its inputs")
	}
}

// TestDefaultPolicyValid checks the defaults against the same validation
// as a policy file, and that every binding refers to an existing role.
func TestDefaultPolicyValid(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	for i := range p.ClusterRoles {
		if errs := validateClusterRole(&p.ClusterRoles[i]); len(errs) > 0 {
			t.Errorf("default ClusterRole %q: %v", p.ClusterRoles[i].Name, errs.ToAggregate())
		}
	}
	for i := range p.ClusterRoleBindings {
		b := &p.ClusterRoleBindings[i]
		if errs := validateClusterRoleBinding(b); len(errs) > 0 {
			t.Errorf("default ClusterRoleBinding %q: %v", b.Name, errs.ToAggregate())
		}
		if !roleExists(p, b.RoleRef) {
			t.Errorf("default ClusterRoleBinding %q refers to missing role %q", b.Name, b.RoleRef.Name)
		}
	}
	if cp := compilePolicy(p); len(cp.errs) > 0 {
		t.Errorf("compile default policy: %v", cp.errs)
	}
}
