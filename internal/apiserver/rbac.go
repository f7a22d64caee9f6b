package apiserver

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// This file holds the RBAC matching rules, with the semantics of
// k8s.io/component-helpers/auth/rbac/validation and
// plugin/pkg/auth/authorizer/rbac (rbac/v1 PolicyRule).

// verbMatches reports whether rule grants verb: "*" grants every verb.
func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	for _, v := range rule.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

// apiGroupMatches reports whether rule covers group: "*" covers every
// group, "" is the core group.
func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	for _, g := range rule.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

// resourceMatches reports whether rule covers resource with subresource:
// "*" covers every resource and subresource, "res/sub" one subresource,
// "*/sub" that subresource of every resource, and a plain "res" only the
// resource itself, not its subresources.
func resourceMatches(rule *rbacv1.PolicyRule, resource, subresource string) bool {
	combined := resource
	if subresource != "" {
		combined = resource + "/" + subresource
	}
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll:
			return true
		case r == combined:
			return true
		case subresource != "" && len(r) == len(subresource)+2 && strings.HasPrefix(r, "*/") && r[2:] == subresource:
			return true
		}
	}
	return false
}

// resourceNameMatches reports whether rule covers the object name: an empty
// resourceNames list covers every name (and requests without one, such as
// list and create), a non-empty one only the names listed, exactly.
func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	for _, n := range rule.ResourceNames {
		if n == name {
			return true
		}
	}
	return false
}

// nonResourceURLMatches reports whether rule covers path: "*" covers every
// path, a URL ending in "*" every path with the prefix before it, any other
// only itself.
func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == rbacv1.NonResourceAll:
			return true
		case u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")):
			return true
		}
	}
	return false
}

// ruleAllows reports whether rule grants the request described by a.
func ruleAllows(a *Attributes, rule *rbacv1.PolicyRule) bool {
	if a.ResourceRequest {
		return verbMatches(rule, a.Verb) &&
			apiGroupMatches(rule, a.APIGroup) &&
			resourceMatches(rule, a.Resource, a.Subresource) &&
			resourceNameMatches(rule, a.Name)
	}
	return verbMatches(rule, a.Verb) && nonResourceURLMatches(rule, a.Path)
}

// serviceAccountUserPrefix starts the user name of a service account.
const serviceAccountUserPrefix = "system:serviceaccount:"

// subjectMatches reports whether the binding subject s names u. User and
// Group subjects compare names exactly; a ServiceAccount subject names the
// user "system:serviceaccount:NAMESPACE:NAME".
func subjectMatches(s *rbacv1.Subject, u *UserInfo) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name != "" && u.Name == s.Name
	case rbacv1.GroupKind:
		return s.Name != "" && u.IsMember(s.Name)
	case rbacv1.ServiceAccountKind:
		rest, ok := strings.CutPrefix(u.Name, serviceAccountUserPrefix)
		if !ok || s.Name == "" || s.Namespace == "" {
			return false
		}
		ns, name, ok := strings.Cut(rest, ":")
		return ok && ns == s.Namespace && name == s.Name
	}
	return false
}
