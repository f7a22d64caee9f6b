package certificates

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
)

// The built-in signers kubepki signs for (kubernetes-pki §4.10).
const (
	SignerKubeAPIServerClient        = certv1.KubeAPIServerClientSignerName
	SignerKubeAPIServerClientKubelet = certv1.KubeAPIServerClientKubeletSignerName
	SignerKubeletServing             = certv1.KubeletServingSignerName
)

// Node identity names (kubernetes-pki §5.2, §5.3).
const (
	NodeUserPrefix     = "system:node:"
	NodesGroup         = "system:nodes"
	BootstrappersGroup = "system:bootstrappers"
	MastersGroup       = "system:masters"
)

// ReasonSignerValidationFailure is the Failed condition reason for a CSR
// that breaks its signer's policy.
const ReasonSignerValidationFailure = "SignerValidationFailure"

// BuiltInSigners returns the signer names kubepki signs for.
func BuiltInSigners() []string {
	return []string{SignerKubeAPIServerClient, SignerKubeAPIServerClientKubelet, SignerKubeletServing}
}

// IsBuiltInSigner reports whether name is exactly one of the signers
// kubepki signs for. Every other name, legacy-unknown included, is left to
// an external signer.
func IsBuiltInSigner(name string) bool {
	return slices.Contains(BuiltInSigners(), name)
}

// SignerPolicyError is a CSR that breaks its built-in signer's policy. Its
// message, the rule as kube-controller-manager words it, becomes the Failed
// condition's message.
type SignerPolicyError struct {
	// Signer is the CSR's signerName.
	Signer string
	// Err is the rule broken: one of the Err* rule sentinels, possibly
	// wrapped with detail.
	Err error
}

func (e *SignerPolicyError) Error() string { return e.Err.Error() }
func (e *SignerPolicyError) Unwrap() error { return e.Err }

// The exact usage sets kubelet certificates may ask for: with and without
// key encipherment (RSA and ECDSA keys), kubernetes-pki §4.10 and §6.2.
var (
	kubeletClientUsages  = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth}
	kubeletServingUsages = []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageServerAuth}
)

// CheckSignerPolicy checks a parsed request and its spec.usages against the
// policy of the built-in signer signerName, in kube-controller-manager's
// order, and returns nil or a *SignerPolicyError naming the rule:
//
//   - kubernetes.io/kube-apiserver-client: usages contain "client auth" and
//     otherwise only "digital signature" and "key encipherment"; the
//     subject must not carry O=system:masters (kube-apiserver's
//     CertificateSubjectRestriction admission, re-checked before signing).
//   - kubernetes.io/kube-apiserver-client-kubelet: O exactly
//     [system:nodes], no DNS, email, IP or URI SANs, CN
//     "system:node:<name>" with a non-empty name, usages exactly
//     {digital signature, key encipherment, client auth} or without key
//     encipherment.
//   - kubernetes.io/kubelet-serving: O exactly [system:nodes], at least one
//     DNS or IP SAN and no email or URI SAN, usages exactly {digital
//     signature, key encipherment, server auth} or without key
//     encipherment, CN "system:node:<name>".
//
// Any other signerName gives a *SignerPolicyError wrapping
// ErrNotBuiltInSigner.
func CheckSignerPolicy(signerName string, req *x509.CertificateRequest, usages []certv1.KeyUsage) error {
	var err error
	switch signerName {
	case SignerKubeAPIServerClient:
		err = checkAPIServerClient(req, usages)
	case SignerKubeAPIServerClientKubelet:
		err = checkKubeletClient(req, usages)
	case SignerKubeletServing:
		err = checkKubeletServing(req, usages)
	default:
		err = fmt.Errorf("%w: %q", ErrNotBuiltInSigner, signerName)
	}
	if err != nil {
		return &SignerPolicyError{Signer: signerName, Err: err}
	}
	return nil
}

// CheckSubjectRestriction is kube-apiserver's CertificateSubjectRestriction
// admission rule for a create: a kubernetes.io/kube-apiserver-client CSR
// may not ask for the system:masters group. It returns ErrSystemMasters
// (answered with 403 Forbidden) or nil.
func CheckSubjectRestriction(signerName string, req *x509.CertificateRequest) error {
	if signerName == SignerKubeAPIServerClient && slices.Contains(req.Subject.Organization, MastersGroup) {
		return ErrSystemMasters
	}
	return nil
}

func checkAPIServerClient(req *x509.CertificateRequest, usages []certv1.KeyUsage) error {
	clientAuth := false
	for _, u := range usages {
		switch u {
		case certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment:
		case certv1.UsageClientAuth:
			clientAuth = true
		default:
			return fmt.Errorf("%w: %s", ErrInvalidClientUsage, u)
		}
	}
	if !clientAuth {
		return fmt.Errorf("%w: %s", ErrMissingClientAuth, certv1.UsageClientAuth)
	}
	return CheckSubjectRestriction(SignerKubeAPIServerClient, req)
}

func checkKubeletClient(req *x509.CertificateRequest, usages []certv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{NodesGroup}) {
		return ErrOrganizationNotSystemNodes
	}
	switch {
	case len(req.DNSNames) > 0:
		return ErrDNSSANNotAllowed
	case len(req.EmailAddresses) > 0:
		return ErrEmailSANNotAllowed
	case len(req.IPAddresses) > 0:
		return ErrIPSANNotAllowed
	case len(req.URIs) > 0:
		return ErrURISANNotAllowed
	}
	if err := checkNodeCommonName(req.Subject.CommonName); err != nil {
		return err
	}
	if !usagesMatch(usages, kubeletClientUsages) {
		return fmt.Errorf("%w %v", ErrUsagesMismatch, sortedUsages(kubeletClientUsages))
	}
	return nil
}

func checkKubeletServing(req *x509.CertificateRequest, usages []certv1.KeyUsage) error {
	if !slices.Equal(req.Subject.Organization, []string{NodesGroup}) {
		return ErrOrganizationNotSystemNodes
	}
	switch {
	case len(req.DNSNames) == 0 && len(req.IPAddresses) == 0:
		return ErrDNSOrIPSANRequired
	case len(req.EmailAddresses) > 0:
		return ErrEmailSANNotAllowed
	case len(req.URIs) > 0:
		return ErrURISANNotAllowed
	}
	if !usagesMatch(usages, kubeletServingUsages) {
		return fmt.Errorf("%w %v", ErrUsagesMismatch, sortedUsages(kubeletServingUsages))
	}
	return checkNodeCommonName(req.Subject.CommonName)
}

// checkNodeCommonName requires "system:node:<name>" (case-sensitive
// prefix) with a non-empty name: kube-controller-manager checks only the
// prefix, but an empty node name is no node's identity.
func checkNodeCommonName(cn string) error {
	name, ok := strings.CutPrefix(cn, NodeUserPrefix)
	if !ok {
		return ErrCommonNameNotSystemNode
	}
	if name == "" {
		return ErrEmptyNodeName
	}
	return nil
}

// NodeName returns the node name of a "system:node:<name>" user or CN, and
// whether s is one.
func NodeName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, NodeUserPrefix)
	return name, ok && name != ""
}

// usagesMatch reports whether got equals, as a set, full or full without
// key encipherment.
func usagesMatch(got, full []certv1.KeyUsage) bool {
	noKE := slices.DeleteFunc(slices.Clone(full), func(u certv1.KeyUsage) bool { return u == certv1.UsageKeyEncipherment })
	return sameSet(got, full) || sameSet(got, noKE)
}

func sameSet(a, b []certv1.KeyUsage) bool {
	as, bs := sortedUsages(a), sortedUsages(b)
	return slices.Equal(slices.Compact(as), slices.Compact(bs))
}

func sortedUsages(u []certv1.KeyUsage) []certv1.KeyUsage {
	s := slices.Clone(u)
	slices.Sort(s)
	return s
}
