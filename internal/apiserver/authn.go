package apiserver

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Well-known user and group names of Kubernetes authentication
// (k8s.io/apiserver/pkg/authentication/user).
const (
	// GroupAuthenticated is added to every authenticated identity.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated is the group of the anonymous identity.
	GroupUnauthenticated = "system:unauthenticated"
	// UserAnonymous is the name of a request that carries no credentials.
	UserAnonymous = "system:anonymous"
	// GroupMasters is the superuser group: every request of a member is
	// allowed, whatever the RBAC policy says.
	GroupMasters = "system:masters"
	// GroupNodes is the group of kubelet identities (user "system:node:NAME").
	GroupNodes = "system:nodes"
	// NodeUserPrefix starts the user name of a kubelet identity.
	NodeUserPrefix = "system:node:"
	// GroupBootstrappers is the group of every bootstrap-token identity.
	GroupBootstrappers = "system:bootstrappers"
	// GroupKubeadmClusterAdmins is the group of kubeadm's admin.conf,
	// bound to cluster-admin.
	GroupKubeadmClusterAdmins = "kubeadm:cluster-admins"
	// GroupKubeadmNodeToken is the group of kubeadm's default bootstrap
	// token.
	GroupKubeadmNodeToken = "system:bootstrappers:kubeadm:default-node-token"
	// UserKubeControllerManager is the user of kube-controller-manager's
	// kubeconfig (controller-manager.conf).
	UserKubeControllerManager = "system:kube-controller-manager"

	// ExtraCredentialID is the key of the user's extra attribute naming the
	// credential that authenticated the request; for certificates its value
	// is "X509SHA256=" followed by the hex SHA-256 of the leaf's DER.
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// oidUID is the subject attribute that carries a user's UID in a client
// certificate (Kubernetes 1.33+, AllowParsingUserUIDFromCertAuth).
var oidUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57683, 2}

// UserInfo is an authenticated identity.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// clone returns a deep copy of u.
func (u *UserInfo) clone() *UserInfo {
	c := &UserInfo{Name: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
	if u.Extra != nil {
		c.Extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			c.Extra[k] = slices.Clone(v)
		}
	}
	return c
}

// IsMember reports whether u belongs to group.
func (u *UserInfo) IsMember(group string) bool {
	return u != nil && slices.Contains(u.Groups, group)
}

// Authenticator finds the identity behind a request.
//
// AuthenticateRequest returns (user, true, nil) for a request whose
// credentials are valid, (nil, false, nil) for a request that carries none
// of the credentials it understands, and (nil, false, err) for a request
// whose credentials are invalid; the server answers the last with 401.
// Implementations are safe for concurrent use.
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (*UserInfo, bool, error)
}

// x509Authenticator authenticates TLS client certificates.
type x509Authenticator struct {
	roots *x509.CertPool
	now   func() time.Time
	cache *verifyCache
}

// verifyCacheSize bounds the number of verified chains remembered.
const verifyCacheSize = 4096

// verifyCache remembers client certificate chains that verified, with the
// time window in which the verified chain stays valid, so that the
// signature checks run once per certificate rather than once per request.
// A chain's signatures, constraints and usages do not change with time;
// only the validity window does, and it is checked on every hit.
type verifyCache struct {
	mu      sync.Mutex
	entries map[string]verified // by chainKey
}

// verified is a chain that verified: the window in which every
// certificate of the verified chain is valid, and the identity.
type verified struct {
	notBefore, notAfter time.Time
	user                *UserInfo // never handed out; callers get clones
}

// chainKey identifies the certificates a client presented, in order: the
// leaf's DER for a single certificate (the common case, which then needs
// no copy to look up), else every certificate's DER with its length.
func chainKey(certs []*x509.Certificate) []byte {
	if len(certs) == 1 {
		return certs[0].Raw
	}
	var k []byte
	for _, c := range certs {
		k = binary.BigEndian.AppendUint32(k, uint32(len(c.Raw)))
		k = append(k, c.Raw...)
	}
	return k
}

// lookup returns a copy of the identity of the chain with key k if it
// verified before and its verified chain is valid at now.
func (c *verifyCache) lookup(k []byte, now time.Time) (*UserInfo, bool) {
	c.mu.Lock()
	v, ok := c.entries[string(k)]
	c.mu.Unlock()
	if !ok || now.Before(v.notBefore) || now.After(v.notAfter) {
		return nil, false
	}
	return v.user.clone(), true
}

// add remembers that the presented chain with key k verified as chain,
// for user u.
func (c *verifyCache) add(k []byte, chain []*x509.Certificate, u *UserInfo) {
	v := verified{user: u.clone()}
	for i, cert := range chain {
		if i == 0 || cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if i == 0 || cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= verifyCacheSize {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[string(k)] = v
}

// NewX509Authenticator returns an Authenticator for TLS client certificates,
// as kube-apiserver's --client-ca-file does.
//
// The leaf, r.TLS.PeerCertificates[0], must chain to one of roots through
// the other certificates the client sent, for the clientAuth extended key
// usage (a leaf without any EKU extension is accepted, as crypto/x509 and
// Kubernetes do), and must be valid at now() (nil now means time.Now). The
// TLS listener therefore only requests a certificate; this authenticator
// verifies it, so that tests can inject the clock.
//
// The identity is the subject's common name as the user (case-sensitive,
// verbatim; an empty CN is an error, not an anonymous request), every
// Organization value as a group in order, and [GroupAuthenticated].
// OrganizationalUnit, Locality and the rest never become groups. The
// subject attribute 1.3.6.1.4.1.57683.2, if present, is the UID; the extra
// attribute [ExtraCredentialID] names the certificate by its SHA-256.
//
// A request without TLS or without a client certificate gets
// (nil, false, nil).
//
// Chains that verified are remembered (up to 4096) with the window in
// which every certificate of the verified chain is valid, so that a
// client's later requests skip the signature checks; the window is
// checked on every request, and a request outside it is verified again
// in full.
func NewX509Authenticator(roots *x509.CertPool, now func() time.Time) Authenticator {
	if now == nil {
		now = time.Now
	}
	return &x509Authenticator{roots: roots, now: now, cache: &verifyCache{entries: map[string]verified{}}}
}

// AuthenticateRequest implements [Authenticator].
func (a *x509Authenticator) AuthenticateRequest(r *http.Request) (*UserInfo, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	leaf := r.TLS.PeerCertificates[0]
	now := a.now()
	key := chainKey(r.TLS.PeerCertificates)
	if u, ok := a.cache.lookup(key, now); ok {
		return u, true, nil
	}
	opts := x509.VerifyOptions{
		Roots:       a.roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if a.roots == nil {
		// A nil pool would make Verify fall back to the system roots, which
		// must never authenticate clients.
		opts.Roots = x509.NewCertPool()
	}
	if len(r.TLS.PeerCertificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, false, fmt.Errorf("verifying certificate %s failed: %w", describeCert(leaf), err)
	}
	u, err := userFromCertificate(leaf)
	if err != nil {
		return nil, false, fmt.Errorf("certificate %s: %w", describeCert(leaf), err)
	}
	a.cache.add(key, chains[0], u)
	return u, true, nil
}

// errEmptyCommonName is returned for a verified client certificate whose
// subject has no common name: it names no user.
var errEmptyCommonName = errors.New("subject has no common name; issue the client certificate with CN set to the user name")

// userFromCertificate maps a verified client certificate to its identity
// (Kubernetes' CommonNameUserConversion).
func userFromCertificate(c *x509.Certificate) (*UserInfo, error) {
	if c.Subject.CommonName == "" {
		return nil, errEmptyCommonName
	}
	u := &UserInfo{Name: c.Subject.CommonName}
	var uids []string
	for _, atv := range c.Subject.Names {
		if !atv.Type.Equal(oidUID) {
			continue
		}
		s, ok := atv.Value.(string)
		if !ok || s == "" {
			return nil, errors.New("subject UID attribute 1.3.6.1.4.1.57683.2 is not a non-empty string")
		}
		uids = append(uids, s)
	}
	switch len(uids) {
	case 0:
	case 1:
		u.UID = uids[0]
	default:
		return nil, errors.New("subject has more than one UID attribute 1.3.6.1.4.1.57683.2")
	}
	u.Groups = make([]string, 0, len(c.Subject.Organization)+1)
	u.Groups = append(u.Groups, c.Subject.Organization...)
	if !slices.Contains(u.Groups, GroupAuthenticated) {
		u.Groups = append(u.Groups, GroupAuthenticated)
	}
	sum := sha256.Sum256(c.Raw)
	u.Extra = map[string][]string{ExtraCredentialID: {"X509SHA256=" + hex.EncodeToString(sum[:])}}
	return u, nil
}

// describeCert names a certificate the way Kubernetes' authentication
// errors do: decimal serial, subject and authority key identifiers.
func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("SN=%s, SKID=%s, AKID=%s", c.SerialNumber, colonHex(c.SubjectKeyId), colonHex(c.AuthorityKeyId))
}

// colonHex formats b as upper-case hex bytes joined by colons.
func colonHex(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, len(b)*3-1)
	for i, x := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[x>>4], digits[x&0xf])
	}
	return string(out)
}

// unionAuthenticator tries authenticators in order.
type unionAuthenticator []Authenticator

// NewUnionAuthenticator returns an Authenticator that asks each of a in
// order and returns the first identity found. If none finds one, it returns
// the errors of those that rejected the request joined together, or
// (nil, false, nil) if none saw credentials. Nil entries are skipped.
func NewUnionAuthenticator(a ...Authenticator) Authenticator {
	u := make(unionAuthenticator, 0, len(a))
	for _, x := range a {
		if x != nil {
			u = append(u, x)
		}
	}
	return u
}

// AuthenticateRequest implements [Authenticator].
func (u unionAuthenticator) AuthenticateRequest(r *http.Request) (*UserInfo, bool, error) {
	var errs []error
	for _, a := range u {
		info, ok, err := a.AuthenticateRequest(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return info, true, nil
		}
	}
	return nil, false, errors.Join(errs...)
}
