package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/pki"
)

// TestKubeletTLSBootstrap is the kubelet's first contact: with only a
// bootstrap token from --bootstrap-token-file it asks for its client
// certificate, which kubeadm's default bindings auto-approve and the
// signer issues; a wrong token is refused.
func TestKubeletTLSBootstrap(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(tokens, []byte(`apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-abcdef
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  token-id: abcdef
  token-secret: 0123456789abcdef
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, "r1", dir, "--bootstrap-token-file", tokens)
	r.start()
	ca := readCA(t, dir)
	withToken := func(token string) kubernetes.Interface {
		cs, err := kubernetes.NewForConfig(&rest.Config{Host: r.url, BearerToken: token, Timeout: 10 * time.Second,
			TLSClientConfig: rest.TLSClientConfig{CAData: pki.MarshalCertificatePEM(ca)}})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if _, err := withToken("abcdef.ffffffffffffffff").CertificatesV1().CertificateSigningRequests().Create(ctx, kubeletCSR(t, "bad-token", "n4"), metav1.CreateOptions{}); err == nil {
		t.Fatal("a wrong bootstrap token could create a CSR")
	}
	kubelet := withToken("abcdef.0123456789abcdef")
	created, err := kubelet.CertificatesV1().CertificateSigningRequests().Create(ctx, kubeletCSR(t, "node-csr-n5", "n5"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubelet with a bootstrap token: %v", err)
	}
	if created.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("spec.username = %q, want system:bootstrap:abcdef from the token", created.Spec.Username)
	}
	verifyIssuedFor(t, ctx, kubelet, []string{"node-csr-n5"}, ca, 60*time.Second)
}
