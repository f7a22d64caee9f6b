package e2e

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/pki"
)

// clientAs builds a clientset that authenticates with a client certificate
// for user/groups, signed by the replica's own cluster CA.
func clientAs(t *testing.T, r *replica, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(r.dir, "pki", "ca.crt"), filepath.Join(r.dir, "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.GenerateKey(pki.ECDSAP256)
	cert, err := ca.Sign(key.Public(), pki.CertOptions{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.MarshalPrivateKeyPEM(key)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: r.url, Timeout: 10 * time.Second, TLSClientConfig: rest.TLSClientConfig{
		CAData: pki.MarshalCertificatePEM(ca.Cert), CertData: pki.MarshalCertificatePEM(cert), KeyData: keyPEM,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func kubeletCSR(t *testing.T, name, node string) *certv1.CertificateSigningRequest {
	t.Helper()
	key, _ := pki.GenerateKey(pki.ECDSAP256)
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pki.MarshalCSRPEM(der),
			SignerName: certv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}
}

// TestAutoApprovalFollowsPolicy checks that serve's auto-approver asks
// the same RBAC policy as the API: a node renewing its own client
// certificate is approved by the default bindings, a group granted
// nodeclient in --authorization-policy-file is approved, and anyone else
// waits for a human.
func TestAutoApprovalFollowsPolicy(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: provisioners-nodeclient
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:certificates.k8s.io:certificatesigningrequests:nodeclient
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: node-provisioners
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, "r1", dir, "--authorization-policy-file", policy)
	r.start()
	admin := r.client()

	create := func(cs kubernetes.Interface, csr *certv1.CertificateSigningRequest) {
		t.Helper()
		if _, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", csr.Name, err)
		}
	}
	// Someone without nodeclient asks first; their request must wait.
	create(clientAs(t, r, "eve", "dev"), kubeletCSR(t, "eve-for-n3", "n3"))
	create(clientAs(t, r, "system:node:n1", "system:nodes"), kubeletCSR(t, "n1-self", "n1"))
	create(clientAs(t, r, "bob", "node-provisioners"), kubeletCSR(t, "bob-for-n2", "n2"))

	verifyIssuedFor(t, ctx, admin, []string{"n1-self", "bob-for-n2"}, readCA(t, dir), 60*time.Second)
	eve, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, "eve-for-n3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(eve.Status.Conditions) != 0 || len(eve.Status.Certificate) != 0 {
		t.Errorf("eve's kubelet CSR was acted on without a nodeclient grant: %+v", eve.Status.Conditions)
	}
}

// verifyIssuedFor waits until each named CSR carries a certificate that
// chains to ca for client auth.
func verifyIssuedFor(t *testing.T, ctx context.Context, cs kubernetes.Interface, names []string, ca *x509.Certificate, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, n := range names {
		for {
			c, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, n, metav1.GetOptions{})
			if err == nil && len(c.Status.Certificate) > 0 {
				cert, err := pki.ParseCertificatePEM(c.Status.Certificate)
				if err != nil {
					t.Fatal(err)
				}
				if err := pki.VerifyChain(cert, []*x509.Certificate{ca}, nil, x509.ExtKeyUsageClientAuth, time.Now()); err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not issued within %v (err %v)", n, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
