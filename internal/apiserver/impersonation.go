package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
)

// This file implements user impersonation as kube-apiserver does it
// (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation):
// an authenticated requester sends Impersonate-* headers, every attribute
// asked for is authorized for the requester with the verb "impersonate",
// and the request then runs as the identity the headers describe.

// Groups every service account belongs to, and the prefix of its
// namespace's group (system:serviceaccounts:NAMESPACE).
const (
	groupServiceAccounts       = "system:serviceaccounts"
	groupServiceAccountsPrefix = "system:serviceaccounts:"
)

// impersonateVerb is the verb the requester needs on each attribute it
// asks to impersonate.
const impersonateVerb = "impersonate"

// impersonationRequest is what the impersonation headers of a request ask
// for, in the order the attributes are authorized.
type impersonationRequest struct {
	user   string
	groups []string
	// extraKeys lists the keys of extra in the order they are checked.
	extraKeys []string
	extra     map[string][]string
	uid       string
}

// hasImpersonationPrefix reports whether the header name starts with
// Impersonate-Extra-, ignoring case (Go canonicalizes the names of
// incoming headers, but the check must not depend on it).
func hasImpersonationPrefix(name string) bool {
	p := authenticationv1.ImpersonateUserExtraHeaderPrefix
	return len(name) > len(p) && strings.EqualFold(name[:len(p)], p)
}

// impersonationHeaderPrefix starts the name of every impersonation header.
const impersonationHeaderPrefix = "Impersonate-"

// hasImpersonationHeaders reports whether h may hold an impersonation
// header: one whose name starts with Impersonate-, ignoring case.
func hasImpersonationHeaders(h http.Header) bool {
	for name := range h {
		if len(name) >= len(impersonationHeaderPrefix) && strings.EqualFold(name[:len(impersonationHeaderPrefix)], impersonationHeaderPrefix) {
			return true
		}
	}
	return false
}

// parseImpersonation reads the impersonation headers of h: Impersonate-User
// (its first value), Impersonate-Group (every value), Impersonate-Uid (its
// first value) and Impersonate-Extra-KEY (every value), where KEY is
// lower-cased and then percent-decoded, kept as sent if it does not decode,
// as Kubernetes does. It returns nil for a request without any of them. A
// request asking for groups, a UID or extras without a user gets a 400
// BadRequest error, ready to be sent: Kubernetes refuses it too, though
// with a 500, and a client's mistake must not look like a server fault.
func parseImpersonation(h http.Header) (*impersonationRequest, error) {
	if !hasImpersonationHeaders(h) {
		return nil, nil // the common case, without allocating
	}
	ir := &impersonationRequest{
		user:   h.Get(authenticationv1.ImpersonateUserHeader),
		groups: h.Values(authenticationv1.ImpersonateGroupHeader),
		uid:    h.Get(authenticationv1.ImpersonateUIDHeader),
	}
	for name, values := range h {
		if !hasImpersonationPrefix(name) {
			continue
		}
		key := strings.ToLower(name[len(authenticationv1.ImpersonateUserExtraHeaderPrefix):])
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
		if ir.extra == nil {
			ir.extra = map[string][]string{}
		}
		if _, ok := ir.extra[key]; !ok {
			ir.extraKeys = append(ir.extraKeys, key)
		}
		ir.extra[key] = append(ir.extra[key], values...)
	}
	// Header maps have no order; checking keys sorted makes the first
	// refusal, and so the answer, the same on every try.
	slices.Sort(ir.extraKeys)
	if ir.user == "" && len(ir.groups) == 0 && ir.uid == "" && len(ir.extraKeys) == 0 {
		return nil, nil
	}
	if ir.user == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("requested %s without impersonating a user", ir.describe()))
	}
	return ir, nil
}

// describe lists what ir asks for besides the user, for the BadRequest
// message: `group "g1", uid "u1", extra "scopes"="openid"`.
func (ir *impersonationRequest) describe() string {
	var parts []string
	for _, g := range ir.groups {
		parts = append(parts, fmt.Sprintf("group %q", g))
	}
	for _, k := range ir.extraKeys {
		for _, v := range ir.extra[k] {
			parts = append(parts, fmt.Sprintf("extra %q=%q", k, v))
		}
	}
	if ir.uid != "" {
		parts = append(parts, fmt.Sprintf("uid %q", ir.uid))
	}
	return strings.Join(parts, ", ")
}

// splitServiceAccount returns the namespace and name of a service-account
// user name, system:serviceaccount:NAMESPACE:NAME, where NAMESPACE is a DNS
// label and NAME a DNS subdomain (Kubernetes' serviceaccount.SplitUsername).
func splitServiceAccount(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || strings.Contains(name, ":") ||
		len(apivalidation.ValidateNamespaceName(namespace, false)) > 0 ||
		len(apivalidation.ValidateServiceAccountName(name, false)) > 0 {
		return "", "", false
	}
	return namespace, name, true
}

// checks returns the authorization attributes the requester must be
// allowed, in order: the user (as resource "users" in the core group, or
// for a service-account name as "serviceaccounts" in its namespace), each
// group ("groups"), each extra value ("userextras" with the key as
// subresource, in authentication.k8s.io) and the UID ("uids", in
// authentication.k8s.io); the name is the value asked for.
func (ir *impersonationRequest) checks(requester *UserInfo) []Attributes {
	check := func(group, version, resource, sub, namespace, name string) Attributes {
		return Attributes{
			User: requester, Verb: impersonateVerb, APIGroup: group, APIVersion: version,
			Resource: resource, Subresource: sub, Namespace: namespace, Name: name,
			ResourceRequest: true,
		}
	}
	authnVersion := authenticationv1.SchemeGroupVersion.Version
	var out []Attributes
	if ns, name, ok := splitServiceAccount(ir.user); ok {
		out = append(out, check("", "", "serviceaccounts", "", ns, name))
	} else {
		out = append(out, check("", "", "users", "", "", ir.user))
	}
	for _, g := range ir.groups {
		out = append(out, check("", "", "groups", "", "", g))
	}
	for _, k := range ir.extraKeys {
		for _, v := range ir.extra[k] {
			out = append(out, check(authenticationGroup, authnVersion, "userextras", k, "", v))
		}
	}
	if ir.uid != "" {
		out = append(out, check(authenticationGroup, authnVersion, "uids", "", "", ir.uid))
	}
	return out
}

// identity returns the identity ir describes. Its groups are exactly the
// ones asked for (for a service account that asks for none, its
// system:serviceaccounts and system:serviceaccounts:NAMESPACE), plus
// system:authenticated unless system:authenticated or
// system:unauthenticated is among them; system:anonymous gets
// system:unauthenticated instead. Nothing of the requester's identity is
// kept.
func (ir *impersonationRequest) identity() *UserInfo {
	u := &UserInfo{Name: ir.user, UID: ir.uid, Groups: slices.Clone(ir.groups)}
	if ns, _, ok := splitServiceAccount(ir.user); ok && len(ir.groups) == 0 {
		u.Groups = []string{groupServiceAccounts, groupServiceAccountsPrefix + ns}
	}
	if u.Groups == nil {
		u.Groups = []string{}
	}
	if ir.user == UserAnonymous {
		if !slices.Contains(u.Groups, GroupUnauthenticated) {
			u.Groups = append(u.Groups, GroupUnauthenticated)
		}
	} else if !slices.Contains(u.Groups, GroupAuthenticated) && !slices.Contains(u.Groups, GroupUnauthenticated) {
		u.Groups = append(u.Groups, GroupAuthenticated)
	}
	if len(ir.extraKeys) > 0 {
		u.Extra = make(map[string][]string, len(ir.extraKeys))
		for _, k := range ir.extraKeys {
			u.Extra[k] = slices.Clone(ir.extra[k])
		}
	}
	return u
}

// Impersonate returns the identity that requester asks to act as through
// the impersonation headers of h, after az allowed requester every
// attribute asked for (see [Attributes] with the verb "impersonate");
// (nil, nil) means h asks for no impersonation.
//
// The first attribute refused ends the checks with a 403 Forbidden
// *apierrors.StatusError carrying kube-apiserver's message, e.g.
// `users "kubernetes-admin" is forbidden: User "alice" cannot impersonate
// resource "users" in API group "" at the cluster scope`. Groups, a UID
// or extras asked for without Impersonate-User get a 400 BadRequest. An
// error of az is returned wrapped, and the server answers it with 500.
func Impersonate(ctx context.Context, az Authorizer, requester *UserInfo, h http.Header) (*UserInfo, error) {
	ir, err := parseImpersonation(h)
	if err != nil || ir == nil {
		return nil, err
	}
	for _, a := range ir.checks(requester) {
		allowed, reason, err := az.Authorize(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("authorize impersonation of %s %q: %w", a.Resource, a.Name, err)
		}
		if !allowed {
			return nil, forbidden(a, reason)
		}
	}
	return ir.identity(), nil
}

// removeImpersonationHeaders deletes every impersonation header from h, so
// that nothing after the impersonation step acts on them again.
func removeImpersonationHeaders(h http.Header) {
	h.Del(authenticationv1.ImpersonateUserHeader)
	h.Del(authenticationv1.ImpersonateGroupHeader)
	h.Del(authenticationv1.ImpersonateUIDHeader)
	for name := range h {
		if hasImpersonationPrefix(name) {
			delete(h, name)
		}
	}
}
