package certificates

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
)

// Auto-approval reasons and messages, as kube-controller-manager's
// csrapproving controller writes them (kubernetes-pki §4.12).
const (
	ReasonAutoApproved = "AutoApproved"

	MessageSelfNodeClient = "Auto approving self kubelet client certificate after SubjectAccessReview."
	MessageNodeClient     = "Auto approving kubelet client certificate after SubjectAccessReview."
	MessageKubeletServing = "Auto approving kubelet serving certificate after node inventory check."
)

// The permissions a requester needs for kubelet client auto-approval:
// create on certificatesigningrequests/<subresource> (never actually
// called; checked like a SubjectAccessReview).
const (
	SubresourceSelfNodeClient = "selfnodeclient"
	SubresourceNodeClient     = "nodeclient"
)

// AuthorizeFunc reports whether the requester u may create the
// certificatesigningrequests subresource ("selfnodeclient" or
// "nodeclient"), as a SubjectAccessReview would.
type AuthorizeFunc func(ctx context.Context, u User, subresource string) (bool, error)

// NodeInventory returns the DNS names and IP addresses that belong to the
// node named nodeName, from a source the node cannot write, and whether the
// node is known.
type NodeInventory func(nodeName string) (dns []string, ips []net.IP, ok bool)

// ApprovalPolicy decides which CSRs are approved without a human.
// The zero value approves kubelet client CSRs under kubeadm's default
// bindings and never approves serving certificates.
type ApprovalPolicy struct {
	// Authorize checks the requester's selfnodeclient/nodeclient
	// permission. Nil means kubeadm's default bindings:
	// selfnodeclient for the group system:nodes, nodeclient for
	// system:bootstrappers and its system:bootstrappers:* subgroups, and
	// both for system:masters.
	Authorize AuthorizeFunc
	// Inventory, when set, allows kubelet-serving CSRs whose every DNS and
	// IP SAN is exactly one of the node's. Nil never approves them.
	Inventory NodeInventory
}

// ApprovalDecision is the outcome of [ApprovalPolicy.Decide].
type ApprovalDecision struct {
	// Approve says whether to append an Approved condition with Reason and
	// Message.
	Approve bool
	Reason  string
	Message string
	// Why explains, for the log, why a CSR is left alone.
	Why string
}

// Decide applies the auto-approval policy to csr (security.md §5):
//
//   - CSRs already issued, approved or denied are left alone, and nothing
//     is ever denied.
//   - kubernetes.io/kube-apiserver-client-kubelet: approved when the
//     request passes the signer policy and either the requester is the
//     node named in the CN (spec.username == CN) with selfnodeclient
//     permission, or has nodeclient permission (a bootstrap identity).
//   - kubernetes.io/kubelet-serving: approved only when the requester is
//     the node named in the CN, in group system:nodes, the request passes
//     the signer policy, and every DNS and IP SAN is in the node's
//     inventory.
//   - Every other signer, kube-apiserver-client included, is never
//     auto-approved.
//
// An error comes only from Authorize; the CSR then stays pending.
func (p ApprovalPolicy) Decide(ctx context.Context, csr *certv1.CertificateSigningRequest) (ApprovalDecision, error) {
	if HasCertificate(csr) || hasCondition(csr, certv1.CertificateApproved) || hasCondition(csr, certv1.CertificateDenied) {
		return ApprovalDecision{Why: "already decided"}, nil
	}
	switch csr.Spec.SignerName {
	case SignerKubeAPIServerClientKubelet, SignerKubeletServing:
	default:
		return ApprovalDecision{Why: "signer is never auto-approved"}, nil
	}
	req, err := ParseRequest(csr.Spec.Request)
	if err != nil {
		return ApprovalDecision{Why: "request does not parse: " + err.Error()}, nil
	}
	if err := CheckSignerPolicy(csr.Spec.SignerName, req, csr.Spec.Usages); err != nil {
		return ApprovalDecision{Why: "signer policy: " + err.Error()}, nil
	}
	u := requester(csr)
	if csr.Spec.SignerName == SignerKubeletServing {
		return p.decideServing(csr, req.Subject.CommonName, req.DNSNames, req.IPAddresses), nil
	}

	if u.Name == req.Subject.CommonName {
		ok, err := p.authorize(ctx, u, SubresourceSelfNodeClient)
		if err != nil {
			return ApprovalDecision{}, fmt.Errorf("authorize %s for %s: %w", u.Name, SubresourceSelfNodeClient, err)
		}
		if ok {
			return ApprovalDecision{Approve: true, Reason: ReasonAutoApproved, Message: MessageSelfNodeClient}, nil
		}
	}
	ok, err := p.authorize(ctx, u, SubresourceNodeClient)
	if err != nil {
		return ApprovalDecision{}, fmt.Errorf("authorize %s for %s: %w", u.Name, SubresourceNodeClient, err)
	}
	if ok {
		return ApprovalDecision{Approve: true, Reason: ReasonAutoApproved, Message: MessageNodeClient}, nil
	}
	return ApprovalDecision{Why: "requester may not create selfnodeclient or nodeclient requests"}, nil
}

func (p ApprovalPolicy) decideServing(csr *certv1.CertificateSigningRequest, cn string, dns []string, ips []net.IP) ApprovalDecision {
	if p.Inventory == nil {
		return ApprovalDecision{Why: "no node inventory configured; serving certificates need a human"}
	}
	if csr.Spec.Username != cn || !slices.Contains(csr.Spec.Groups, NodesGroup) {
		return ApprovalDecision{Why: "requester is not the node named in the request"}
	}
	node, _ := NodeName(cn)
	invDNS, invIPs, ok := p.Inventory(node)
	if !ok {
		return ApprovalDecision{Why: "node " + node + " is not in the inventory"}
	}
	for _, d := range dns {
		if !slices.Contains(invDNS, d) {
			return ApprovalDecision{Why: "DNS name " + d + " does not belong to node " + node}
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(invIPs, ip.Equal) {
			return ApprovalDecision{Why: "IP address " + ip.String() + " does not belong to node " + node}
		}
	}
	return ApprovalDecision{Approve: true, Reason: ReasonAutoApproved, Message: MessageKubeletServing}
}

func (p ApprovalPolicy) authorize(ctx context.Context, u User, subresource string) (bool, error) {
	if p.Authorize != nil {
		return p.Authorize(ctx, u, subresource)
	}
	return DefaultAuthorize(ctx, u, subresource)
}

// DefaultAuthorize is the [AuthorizeFunc] for kubeadm's default bindings:
// system:masters may do both; selfnodeclient is granted to system:nodes,
// nodeclient to system:bootstrappers and system:bootstrappers:*.
func DefaultAuthorize(_ context.Context, u User, subresource string) (bool, error) {
	if slices.Contains(u.Groups, MastersGroup) {
		return true, nil
	}
	switch subresource {
	case SubresourceSelfNodeClient:
		return slices.Contains(u.Groups, NodesGroup), nil
	case SubresourceNodeClient:
		return slices.ContainsFunc(u.Groups, func(g string) bool {
			return g == BootstrappersGroup || strings.HasPrefix(g, BootstrappersGroup+":")
		}), nil
	}
	return false, nil
}

// requester returns the identity the server recorded in spec on create.
func requester(csr *certv1.CertificateSigningRequest) User {
	u := User{Name: csr.Spec.Username, UID: csr.Spec.UID, Groups: csr.Spec.Groups}
	if len(csr.Spec.Extra) > 0 {
		u.Extra = make(map[string][]string, len(csr.Spec.Extra))
		for k, v := range csr.Spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

// Requester returns the requester identity recorded in csr's spec.
func Requester(csr *certv1.CertificateSigningRequest) User { return requester(csr) }
