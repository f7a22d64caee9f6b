package controller_test

import (
	"crypto/x509/pkix"
	"net"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
)

// TestAutoApprover runs the approver and signer against the real server:
// a node's own client CSR and a bootstrap CSR are approved and issued;
// another node's, a plain user's and a client-signer CSR stay pending;
// serving CSRs are approved only when every SAN is in the inventory.
func TestAutoApprover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	inventory := func(node string) ([]string, []net.IP, bool) {
		if node != "n1" {
			return nil, nil, false
		}
		return []string{"n1.example"}, []net.IP{net.IPv4(10, 0, 0, 1)}, true
	}
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), NodeInventory: inventory, Workers: 1})

	nodeSubject := func(n string) pkix.Name {
		return pkix.Name{CommonName: "system:node:" + n, Organization: []string{"system:nodes"}}
	}
	kubeletUsages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}
	servingUsages := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageServerAuth}
	n1 := e.client("system:node:n1", "system:nodes")
	boot := e.client("system:bootstrap:abcdef", "system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token")
	jane := e.client("jane", "dev")

	tests := []struct {
		name    string
		as      certv1client.CertificateSigningRequestInterface
		signer  string
		subject pkix.Name
		dns     []string
		ips     []net.IP
		usages  []certv1.KeyUsage
		message string // empty: stays pending
	}{
		{"self-client", n1, certificates.SignerKubeAPIServerClientKubelet, nodeSubject("n1"), nil, nil, kubeletUsages, certificates.MessageSelfNodeClient},
		{"bootstrap-client", boot, certificates.SignerKubeAPIServerClientKubelet, nodeSubject("n9"), nil, nil, kubeletUsages, certificates.MessageNodeClient},
		{"other-node-client", n1, certificates.SignerKubeAPIServerClientKubelet, nodeSubject("n2"), nil, nil, kubeletUsages, ""},
		{"user-kubelet-client", jane, certificates.SignerKubeAPIServerClientKubelet, nodeSubject("n1"), nil, nil, kubeletUsages, ""},
		{"client-signer", n1, certificates.SignerKubeAPIServerClient, nodeSubject("n1"), nil, nil, kubeletUsages, ""},
		{"serving-ok", n1, certificates.SignerKubeletServing, nodeSubject("n1"), []string{"n1.example"}, []net.IP{net.IPv4(10, 0, 0, 1)}, servingUsages, certificates.MessageKubeletServing},
		{"serving-foreign-ip", n1, certificates.SignerKubeletServing, nodeSubject("n1"), []string{"n1.example"}, []net.IP{net.IPv4(10, 0, 0, 2)}, servingUsages, ""},
		{"serving-foreign-dns", n1, certificates.SignerKubeletServing, nodeSubject("n1"), []string{"kubernetes.default"}, nil, servingUsages, ""},
		{"serving-other-node", n1, certificates.SignerKubeletServing, nodeSubject("n2"), []string{"n1.example"}, nil, servingUsages, ""},
	}
	for _, tc := range tests {
		in, _ := newCSR(t, tc.name, tc.signer, tc.subject, tc.dns, tc.ips, tc.usages...)
		create(t, tc.as, in)
	}
	// A sentinel created last: once the single approver worker approved
	// it, it has looked at everything before it.
	sentinel, _ := newCSR(t, "sentinel", certificates.SignerKubeAPIServerClientKubelet, nodeSubject("n1"), nil, nil, kubeletUsages...)
	create(t, n1, sentinel)
	waitIssued(t, e.admin, "sentinel")

	for _, tc := range tests {
		if tc.message == "" {
			continue
		}
		got, _ := waitIssued(t, e.admin, tc.name)
		c, _ := certificates.Condition(got, certv1.CertificateApproved)
		if c.Reason != certificates.ReasonAutoApproved || c.Message != tc.message {
			t.Errorf("%s: Approved = %q/%q, want %q/%q", tc.name, c.Reason, c.Message, certificates.ReasonAutoApproved, tc.message)
		}
	}
	for _, tc := range tests {
		if tc.message != "" {
			continue
		}
		got, err := e.admin.Get(t.Context(), tc.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !certificates.IsPending(got) || certificates.HasCertificate(got) {
			t.Errorf("%s: auto-approved or issued: %+v", tc.name, got.Status.Conditions)
		}
	}
	eventually(func() bool { return rec.count("csr auto-approved", "") >= 4 })
	if n := rec.count("csr auto-approved", ""); n != 4 {
		t.Errorf("%d auto-approvals logged, want 4 (3 cases + sentinel)", n)
	}
}
