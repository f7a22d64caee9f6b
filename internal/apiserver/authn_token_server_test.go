package apiserver_test

import (
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/pki"
)

// TestBootstrapTokenServer runs the bootstrap token authenticator next to
// the x509 one in a real server: a kubelet with a kubeadm bootstrap token
// may create and read its CSR, as kubeadm's bindings allow, and a wrong or
// expired token gets 401.
func TestBootstrapTokenServer(t *testing.T) {
	t.Parallel()
	tokens := []apiserver.BootstrapToken{
		{ID: "abcdef", Secret: "0123456789abcdef", ExtraGroups: []string{apiserver.GroupKubeadmNodeToken}},
		{ID: "oldold", Secret: "0123456789abcdef", Expiration: time.Now().Add(-time.Minute)},
	}
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) {
		c.Authenticator = apiserver.NewUnionAuthenticator(c.Authenticator, apiserver.NewBootstrapTokenAuthenticator(tokens, nil))
	}})
	client := func(t *testing.T, token string) *kubernetes.Clientset {
		t.Helper()
		cs, err := kubernetes.NewForConfig(&rest.Config{
			Host: srv.URL, BearerToken: token, QPS: -1,
			TLSClientConfig: rest.TLSClientConfig{CAData: srv.CAPEM},
		})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	kubelet := client(t, "abcdef.0123456789abcdef")
	review, err := kubelet.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami with a bootstrap token: %v", err)
	}
	wantGroups := []string{apiserver.GroupBootstrappers, apiserver.GroupKubeadmNodeToken, apiserver.GroupAuthenticated}
	if ui := review.Status.UserInfo; ui.Username != "system:bootstrap:abcdef" || !cmp.Equal(ui.Groups, wantGroups) {
		t.Errorf("whoami = %+v, want system:bootstrap:abcdef in %v", ui, wantGroups)
	}

	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkixNode("worker-1"), pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	csrs := kubelet.CertificatesV1().CertificateSigningRequests()
	created, err := csrs.Create(t.Context(), &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "node-csr-worker-1"},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pki.MarshalCSRPEM(der),
			SignerName: certv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CSR with a bootstrap token: %v", err)
	}
	if created.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("spec.username = %q, want the token's user", created.Spec.Username)
	}
	if _, err := csrs.Get(t.Context(), created.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("get own CSR with a bootstrap token: %v", err)
	}
	if err := csrs.Delete(t.Context(), created.Name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete with a bootstrap token = %v, want Forbidden", err)
	}

	for name, token := range map[string]string{
		"wrong secret": "abcdef.0123456789abcdee",
		"unknown id":   "zzzzzz.0123456789abcdef",
		"expired":      "oldold.0123456789abcdef",
	} {
		_, err := client(t, token).CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Errorf("%s: list = %v, want 401 Unauthorized", name, err)
		}
	}

	// Client certificates keep working next to tokens.
	if _, err := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests().
		Get(t.Context(), created.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("admin get with a client certificate: %v", err)
	}
}

// pkixNode is the subject of a kubelet client certificate request.
func pkixNode(name string) pkix.Name {
	return pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}
}
