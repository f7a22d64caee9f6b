package certificates

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
)

func TestApprovalPolicyDecide(t *testing.T) {
	t.Parallel()
	key := testKey(t, "ecdsa-p256")
	kubeletClient := csrPEM(t, key, &x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes")})
	serving := csrPEM(t, key, &x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes"),
		DNSNames: []string{"n1.example"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}})
	servingForeign := csrPEM(t, key, &x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes"),
		DNSNames: []string{"n1.example", "api.example"}})
	servingForeignIP := csrPEM(t, key, &x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes"),
		IPAddresses: []net.IP{net.ParseIP("10.0.0.2")}})
	badGroup := csrPEM(t, key, &x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes", "system:masters")})

	inventory := func(node string) ([]string, []net.IP, bool) {
		if node != "n1" {
			return nil, nil, false
		}
		return []string{"n1.example"}, []net.IP{net.ParseIP("10.0.0.1")}, true
	}
	mk := func(req []byte, signer, user string, groups []string, usages ...certv1.KeyUsage) *certv1.CertificateSigningRequest {
		c := newCSR(t, "c", req, signer, usages...)
		PrepareForCreate(c, User{Name: user, Groups: groups})
		return c
	}
	nodeGroups := []string{"system:nodes", "system:authenticated"}
	bootGroups := []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"}
	tests := []struct {
		name        string
		policy      ApprovalPolicy
		csr         *certv1.CertificateSigningRequest
		wantApprove bool
		wantMessage string
		wantErr     bool
	}{
		{name: "self node client", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca),
			wantApprove: true, wantMessage: MessageSelfNodeClient},
		{name: "self node client with RSA usages", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ke, ca),
			wantApprove: true, wantMessage: MessageSelfNodeClient},
		{name: "bootstrap token", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:bootstrap:abcdef", bootGroups, ds, ca),
			wantApprove: true, wantMessage: MessageNodeClient},
		{name: "another node", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n2", nodeGroups, ds, ca)},
		{name: "plain user", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "jane", []string{"dev", "system:authenticated"}, ds, ca)},
		{name: "node name but not in system:nodes", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", []string{"system:authenticated"}, ds, ca)},
		{name: "wrong usages", csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca, sa)},
		{name: "extra group in subject", csr: mk(badGroup, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca)},
		{name: "client signer never", csr: mk(kubeletClient, SignerKubeAPIServerClient, "system:node:n1", append(nodeGroups, "system:masters"), ds, ca)},
		{name: "custom authorizer refuses", policy: ApprovalPolicy{Authorize: func(context.Context, User, string) (bool, error) { return false, nil }},
			csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca)},
		{name: "custom authorizer fails", policy: ApprovalPolicy{Authorize: func(context.Context, User, string) (bool, error) { return false, errors.New("down") }},
			csr: mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca), wantErr: true},
		{name: "already approved", csr: func() *certv1.CertificateSigningRequest {
			c := mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca)
			c.Status.Conditions = append(c.Status.Conditions, approved(time.Unix(1, 0)))
			return c
		}()},
		{name: "already denied", csr: func() *certv1.CertificateSigningRequest {
			c := mk(kubeletClient, SignerKubeAPIServerClientKubelet, "system:node:n1", nodeGroups, ds, ca)
			c.Status.Conditions = append(c.Status.Conditions, denied(time.Unix(1, 0)))
			return c
		}()},

		{name: "serving without inventory", csr: mk(serving, SignerKubeletServing, "system:node:n1", nodeGroups, ds, sa)},
		{name: "serving in inventory", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(serving, SignerKubeletServing, "system:node:n1", nodeGroups, ds, sa), wantApprove: true, wantMessage: MessageKubeletServing},
		{name: "serving with a foreign DNS name", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(servingForeign, SignerKubeletServing, "system:node:n1", nodeGroups, ds, sa)},
		{name: "serving with a foreign IP", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(servingForeignIP, SignerKubeletServing, "system:node:n1", nodeGroups, ds, sa)},
		{name: "serving requested by another node", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(serving, SignerKubeletServing, "system:node:n2", nodeGroups, ds, sa)},
		{name: "serving requested by a bootstrapper", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(serving, SignerKubeletServing, "system:bootstrap:abcdef", bootGroups, ds, sa)},
		{name: "serving for an unknown node", policy: ApprovalPolicy{Inventory: func(string) ([]string, []net.IP, bool) { return nil, nil, false }},
			csr: mk(serving, SignerKubeletServing, "system:node:n1", nodeGroups, ds, sa)},
		{name: "serving with client usages", policy: ApprovalPolicy{Inventory: inventory},
			csr: mk(serving, SignerKubeletServing, "system:node:n1", nodeGroups, ds, ca)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := tc.policy.Decide(t.Context(), tc.csr)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Decide() error = %v, want error %v", err, tc.wantErr)
			}
			if d.Approve != tc.wantApprove {
				t.Fatalf("Decide() = %+v, want approve %v", d, tc.wantApprove)
			}
			if d.Approve && (d.Reason != ReasonAutoApproved || d.Message != tc.wantMessage) {
				t.Errorf("Decide() = %q/%q, want %q/%q", d.Reason, d.Message, ReasonAutoApproved, tc.wantMessage)
			}
			if !d.Approve && !tc.wantErr && d.Why == "" {
				t.Error("Decide() left a CSR alone without saying why")
			}
		})
	}
}

func TestConditionHelpers(t *testing.T) {
	t.Parallel()
	at := time.Unix(1, 0)
	c := stored(t)
	if !IsPending(c) || IsApproved(c) || IsDenied(c) || IsFailed(c) || HasCertificate(c) {
		t.Fatal("fresh CSR is not just pending")
	}
	c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(at)}
	if !IsApproved(c) || IsPending(c) {
		t.Error("approved CSR not approved")
	}
	c.Status.Conditions = append(c.Status.Conditions, denied(at))
	if IsApproved(c) || !IsDenied(c) {
		t.Error("approved and denied CSR counts as approved")
	}
	c.Status.Conditions = []certv1.CertificateSigningRequestCondition{failed(at)}
	if !IsFailed(c) {
		t.Error("failed CSR not failed")
	}
	c.Status.Conditions[0].Status = "False"
	if IsFailed(c) {
		t.Error("Failed=False counts as failed")
	}
	c.Status.Certificate = certPEM(t)
	if !HasCertificate(c) {
		t.Error("issued CSR has no certificate")
	}
}
