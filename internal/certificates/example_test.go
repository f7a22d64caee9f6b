package certificates_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
)

// A create as the API server runs it: the identity comes from
// authentication, then every problem is reported at once.
func ExampleValidateCreate() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, key)
	csr := &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        "kubernetes.io/legacy-unknown",
			Usages:            []certv1.KeyUsage{"client auth", "Client Auth"},
			ExpirationSeconds: new(int32),
			Username:          "system:admin", // replaced below
		},
	}
	certificates.PrepareForCreate(csr, certificates.User{Name: "jane", Groups: []string{"system:authenticated"}})
	fmt.Println(csr.Spec.Username)
	for _, err := range certificates.ValidateCreate(csr) {
		fmt.Println(err.Field, err.Type)
	}
	// Output:
	// jane
	// spec.usages[1] Unsupported value
	// spec.signerName Invalid value
	// spec.expirationSeconds Invalid value
}

// The kubelet client signer's policy, as kube-controller-manager words it.
func ExampleCheckSignerPolicy() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}},
	}, key)
	req, _ := certificates.ParseRequest(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	fmt.Println(certificates.CheckSignerPolicy(certificates.SignerKubeAPIServerClientKubelet, req,
		[]certv1.KeyUsage{"digital signature", "client auth"}))
	fmt.Println(certificates.CheckSignerPolicy(certificates.SignerKubeAPIServerClientKubelet, req,
		[]certv1.KeyUsage{"digital signature", "client auth", "server auth"}))
	// Output:
	// <nil>
	// usages did not match [client auth digital signature key encipherment]
}
