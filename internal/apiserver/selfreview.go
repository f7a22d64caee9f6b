package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SelfSubjectReview returns the answer to POST
// /apis/authentication.k8s.io/v1/selfsubjectreviews (kubectl auth whoami)
// for the authenticated user u: its name, UID, groups and extra
// attributes, exactly as authentication produced them. The caller sets
// metadata.creationTimestamp, as kube-apiserver does.
func SelfSubjectReview(u *UserInfo) *authenticationv1.SelfSubjectReview {
	r := &authenticationv1.SelfSubjectReview{
		TypeMeta: metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "SelfSubjectReview"},
	}
	if u == nil {
		return r
	}
	r.Status.UserInfo = authenticationv1.UserInfo{
		Username: u.Name,
		UID:      u.UID,
		Groups:   slices.Clone(u.Groups),
	}
	if len(u.Extra) > 0 {
		r.Status.UserInfo.Extra = make(map[string]authenticationv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			r.Status.UserInfo.Extra[k] = slices.Clone(v)
		}
	}
	return r
}

// SelfSubjectAccessReview answers POST
// /apis/authorization.k8s.io/v1/selfsubjectaccessreviews (kubectl auth
// can-i) for user u by asking az about the attributes in spec.
//
// Exactly one of spec.ResourceAttributes and spec.NonResourceAttributes
// must be set; otherwise the error is a 422 Invalid *apierrors.StatusError
// with field causes, ready to be sent. The namespace is ignored, since
// every resource kubepki serves is cluster-scoped (kubectl sends
// "default"). As a deliberate leniency, a resource given with no group
// but with dots ("signers.certificates.k8s.io", which kubectl sends for a
// resource it cannot find in discovery) is read as resource.group, so
// that can-i answers for what the user meant. Verbs are lower-cased for
// non-resource requests, whose verbs are HTTP methods.
func SelfSubjectAccessReview(ctx context.Context, az Authorizer, u *UserInfo, spec authorizationv1.SelfSubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	a, err := accessReviewAttributes(u, spec)
	if err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, err
	}
	allowed, reason, err := az.Authorize(ctx, a)
	if err != nil {
		return authorizationv1.SubjectAccessReviewStatus{
			Allowed:         false,
			Reason:          reason,
			EvaluationError: err.Error(),
		}, nil
	}
	return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason}, nil
}

// accessReviewAttributes validates spec and turns it into Attributes.
func accessReviewAttributes(u *UserInfo, spec authorizationv1.SelfSubjectAccessReviewSpec) (Attributes, error) {
	specPath := field.NewPath("spec")
	ra, nra := spec.ResourceAttributes, spec.NonResourceAttributes
	var errs field.ErrorList
	switch {
	case ra == nil && nra == nil:
		errs = append(errs, field.Required(specPath.Child("resourceAttributes"), "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	case ra != nil && nra != nil:
		errs = append(errs, field.Invalid(specPath.Child("resourceAttributes"), ra, "cannot be specified in combination with nonResourceAttributes"))
	}
	if ra != nil && ra.Verb == "" {
		errs = append(errs, field.Required(specPath.Child("resourceAttributes", "verb"), "name the verb, e.g. get or approve"))
	}
	if nra != nil && nra.Verb == "" {
		errs = append(errs, field.Required(specPath.Child("nonResourceAttributes", "verb"), "name the verb, e.g. get"))
	}
	if nra != nil && !strings.HasPrefix(nra.Path, "/") {
		errs = append(errs, field.Invalid(specPath.Child("nonResourceAttributes", "path"), nra.Path, "must start with \"/\""))
	}
	if len(errs) > 0 {
		return Attributes{}, apierrors.NewInvalid(
			schema.GroupKind{Group: authorizationGroup, Kind: "SelfSubjectAccessReview"}, "", errs)
	}
	if nra != nil {
		return Attributes{User: u, Verb: strings.ToLower(nra.Verb), Path: nra.Path}, nil
	}
	group, resource := ra.Group, ra.Resource
	if group == "" {
		if i := strings.IndexByte(resource, '.'); i > 0 {
			resource, group = resource[:i], resource[i+1:]
		}
	}
	return Attributes{
		User:            u,
		Verb:            ra.Verb,
		APIGroup:        group,
		APIVersion:      ra.Version,
		Resource:        resource,
		Subresource:     ra.Subresource,
		Name:            ra.Name,
		ResourceRequest: true,
	}, nil
}

// SelfSubjectRulesReview answers POST
// /apis/authorization.k8s.io/v1/selfsubjectrulesreviews (kubectl auth
// can-i --list) for user u under policy p (nil means [DefaultPolicy]):
// every rule granted to u by a binding naming the user or one of its
// groups, plus the superuser rules for system:masters and the node rules
// for a kubelet identity, as Kubernetes' RBAC rule resolver lists them.
// The namespace is accepted and ignored (everything served is
// cluster-scoped). Incomplete is true, with EvaluationError saying why,
// when a binding that names u refers to a missing role.
func SelfSubjectRulesReview(p *Policy, u *UserInfo, namespace string) authorizationv1.SubjectRulesReviewStatus {
	_ = namespace
	if p == nil {
		p = DefaultPolicy()
	}
	if u == nil {
		u = &UserInfo{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
	}
	st := authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    []authorizationv1.ResourceRule{},
		NonResourceRules: []authorizationv1.NonResourceRule{},
	}
	var rules []rbacv1.PolicyRule
	if u.IsMember(GroupMasters) {
		rules = append(rules,
			rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}})
	}
	if isNode(u) {
		rules = append(rules, nodeRules...)
	}
	cp := compilePolicy(p)
	for _, cb := range cp.bindings {
		if subjectIndex(cb.binding, u) < 0 {
			continue
		}
		for _, gr := range cb.rules {
			rules = append(rules, *gr.rule)
		}
	}
	var missing []string
	for i := range p.ClusterRoleBindings {
		b := &p.ClusterRoleBindings[i]
		if subjectIndex(b, u) >= 0 && !roleExists(p, b.RoleRef) {
			missing = append(missing, fmt.Sprintf("clusterrole.rbac.authorization.k8s.io %q not found", b.RoleRef.Name))
		}
	}
	seen := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		if key := r.String(); seen[key] {
			continue
		} else {
			seen[key] = true
		}
		if len(r.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{
				Verbs: slices.Clone(r.Verbs), NonResourceURLs: slices.Clone(r.NonResourceURLs),
			})
			continue
		}
		st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{
			Verbs: slices.Clone(r.Verbs), APIGroups: slices.Clone(r.APIGroups),
			Resources: slices.Clone(r.Resources), ResourceNames: slices.Clone(r.ResourceNames),
		})
	}
	if len(missing) > 0 {
		st.Incomplete = true
		st.EvaluationError = strings.Join(missing, "; ")
	}
	return st
}

// roleExists reports whether ref names a ClusterRole of p.
func roleExists(p *Policy, ref rbacv1.RoleRef) bool {
	if ref.Kind != "ClusterRole" {
		return false
	}
	for i := range p.ClusterRoles {
		if p.ClusterRoles[i].Name == ref.Name {
			return true
		}
	}
	return false
}
