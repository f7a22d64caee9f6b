package apiserver

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Attributes describe a request to authorize, as Kubernetes'
// authorizer.Attributes do for the cluster-scoped resources kubepki serves.
//
// For a resource request (ResourceRequest true) Verb is the API verb (get,
// list, watch, create, update, patch, delete, deletecollection, or a
// custom one such as approve and sign), APIGroup "" is the core group,
// Resource the plural resource, Subresource e.g. "approval" or "status",
// and Name the object name (empty for list, watch of a collection and
// create). Namespace is empty except for the one namespaced check the
// server makes, impersonate on "serviceaccounts"; the RBAC authorizer
// ignores it, since ClusterRoleBindings grant in every namespace. For a
// non-resource request Verb is the lower-case HTTP verb (get, post, put,
// ...) and Path the URL path.
type Attributes struct {
	User            *UserInfo
	Verb            string
	APIGroup        string
	APIVersion      string
	Resource        string
	Subresource     string
	Namespace       string
	Name            string
	Path            string
	ResourceRequest bool
}

// Authorizer decides whether a request is allowed.
//
// Authorize returns allowed true with a reason naming what allowed it, or
// false with a reason that may be empty; err reports a failure to decide
// (the server then refuses the request). Implementations are safe for
// concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (allowed bool, reason string, err error)
}

// grantedRule is a rule together with what granted it, for reasons and
// rules reviews.
type grantedRule struct {
	rule   *rbacv1.PolicyRule
	source string // `ClusterRoleBinding "b" of ClusterRole "r"`
}

// compiledBinding is a binding with its role's effective rules resolved.
type compiledBinding struct {
	binding *rbacv1.ClusterRoleBinding
	rules   []grantedRule
	// reasons holds, per subject, the reason given when the binding
	// allows a request of that subject.
	reasons []string
}

// compiledPolicy is a snapshot of a Policy indexed for authorization.
type compiledPolicy struct {
	bindings []compiledBinding
	// errs lists bindings whose role does not exist.
	errs []string
}

// rbacAuthorizer implements Kubernetes RBAC over a compiled policy, with
// the superuser group and node rules in front of it.
type rbacAuthorizer struct {
	policy *compiledPolicy
}

// NewRBACAuthorizer returns an Authorizer with Kubernetes RBAC semantics
// over a snapshot of p (nil p means [DefaultPolicy]):
//
//   - members of system:masters may do everything, whatever p says, as
//     kube-apiserver's privileged-group authorizer allows;
//   - a node identity (user "system:node:NAME" in group system:nodes) may
//     create, get, list and watch CertificateSigningRequests, as the Node
//     authorizer allows kubelets for bootstrap and rotation;
//   - otherwise the request is allowed when a ClusterRoleBinding naming the
//     user (User), one of its groups (Group) or its service account
//     (ServiceAccount) grants a ClusterRole with a rule matching it: verb
//     ("*" for all), apiGroup ("" core, "*" all), resource ("*",
//     "resource", "resource/subresource", "*/subresource"), resourceNames
//     (empty for all, else exact names), or nonResourceURLs ("*", exact, or
//     a prefix ending in "*").
//
// ClusterRoles with an aggregationRule get the rules of every ClusterRole
// whose labels match one of its selectors, as Kubernetes' aggregation
// controller computes them. A binding to a missing role grants nothing.
// The authorizer never returns an error.
func NewRBACAuthorizer(p *Policy) Authorizer {
	if p == nil {
		p = DefaultPolicy()
	}
	return &rbacAuthorizer{policy: compilePolicy(p)}
}

// Authorize implements [Authorizer].
func (az *rbacAuthorizer) Authorize(_ context.Context, a Attributes) (bool, string, error) {
	u := a.User
	if u == nil {
		u = &UserInfo{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
	}
	if u.IsMember(GroupMasters) {
		return true, fmt.Sprintf("allowed by group %q", GroupMasters), nil
	}
	if isNode(u) {
		for i := range nodeRules {
			if ruleAllows(&a, &nodeRules[i]) {
				return true, "allowed by the node rules", nil
			}
		}
	}
	for i := range az.policy.bindings {
		cb := &az.policy.bindings[i]
		subject := subjectIndex(cb.binding, u)
		if subject < 0 {
			continue
		}
		for _, gr := range cb.rules {
			if ruleAllows(&a, gr.rule) {
				return true, cb.reasons[subject], nil
			}
		}
	}
	return false, "", nil
}

// subjectIndex returns the index of the first subject of b naming u, or -1.
func subjectIndex(b *rbacv1.ClusterRoleBinding, u *UserInfo) int {
	for i := range b.Subjects {
		if subjectMatches(&b.Subjects[i], u) {
			return i
		}
	}
	return -1
}

// describeSubject describes s as `User "x"`, `Group "y"` or
// `ServiceAccount "ns/name"`.
func describeSubject(s *rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return fmt.Sprintf("ServiceAccount %q", s.Namespace+"/"+s.Name)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// isNode reports whether u is a kubelet identity as the Node authorizer
// sees it: user "system:node:NAME" with a non-empty NAME, in system:nodes.
func isNode(u *UserInfo) bool {
	return len(u.Name) > len(NodeUserPrefix) && strings.HasPrefix(u.Name, NodeUserPrefix) && u.IsMember(GroupNodes)
}

// nodeRules are what the Node authorizer grants a kubelet in the
// certificates API (bootstrappolicy.NodeRules): its own CSRs for bootstrap
// and rotation.
var nodeRules = []rbacv1.PolicyRule{{
	Verbs:     []string{"create", "get", "list", "watch"},
	APIGroups: []string{certificatesGroup},
	Resources: []string{"certificatesigningrequests"},
}}

// compilePolicy resolves role references and aggregation of p into a
// snapshot that later changes to p do not affect.
func compilePolicy(p *Policy) *compiledPolicy {
	roles := make(map[string]*rbacv1.ClusterRole, len(p.ClusterRoles))
	for i := range p.ClusterRoles {
		r := p.ClusterRoles[i].DeepCopy()
		roles[r.Name] = r
	}
	effective := aggregateRules(p.ClusterRoles, roles)
	cp := &compiledPolicy{}
	for i := range p.ClusterRoleBindings {
		b := p.ClusterRoleBindings[i].DeepCopy()
		rules, ok := effective[b.RoleRef.Name]
		if b.RoleRef.Kind != "ClusterRole" || !ok {
			cp.errs = append(cp.errs, fmt.Sprintf("ClusterRoleBinding %q refers to ClusterRole %q, which does not exist", b.Name, b.RoleRef.Name))
			continue
		}
		cb := compiledBinding{binding: b}
		source := fmt.Sprintf("ClusterRoleBinding %q of ClusterRole %q", b.Name, b.RoleRef.Name)
		for j := range rules {
			cb.rules = append(cb.rules, grantedRule{rule: &rules[j], source: source})
		}
		for j := range b.Subjects {
			cb.reasons = append(cb.reasons, "RBAC: allowed by "+source+" to "+describeSubject(&b.Subjects[j]))
		}
		cp.bindings = append(cp.bindings, cb)
	}
	return cp
}

// aggregateRules returns the effective rules of every role: its own, or
// for a role with an aggregationRule, its own plus those of every role
// selected, repeated until nothing changes (aggregated roles may
// themselves aggregate).
func aggregateRules(order []rbacv1.ClusterRole, roles map[string]*rbacv1.ClusterRole) map[string][]rbacv1.PolicyRule {
	effective := make(map[string][]rbacv1.PolicyRule, len(roles))
	for name, r := range roles {
		effective[name] = r.Rules
	}
	// Each pass can only add rules; len(roles)+1 passes reach the fixpoint
	// of any chain of aggregation.
	for range len(roles) + 1 {
		changed := false
		for i := range order {
			r := roles[order[i].Name]
			if r.AggregationRule == nil {
				continue
			}
			for _, sel := range r.AggregationRule.ClusterRoleSelectors {
				s, err := metav1.LabelSelectorAsSelector(&sel)
				if err != nil || s.Empty() {
					continue
				}
				for j := range order {
					o := roles[order[j].Name]
					if o.Name == r.Name || !s.Matches(labels.Set(o.Labels)) {
						continue
					}
					for _, rule := range effective[o.Name] {
						if !containsRule(effective[r.Name], &rule) {
							effective[r.Name] = append(effective[r.Name], rule)
							changed = true
						}
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	return effective
}

// containsRule reports whether rules holds a rule equal to r.
func containsRule(rules []rbacv1.PolicyRule, r *rbacv1.PolicyRule) bool {
	for i := range rules {
		if rules[i].String() == r.String() {
			return true
		}
	}
	return false
}
