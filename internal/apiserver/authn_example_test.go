package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http/httptest"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/pki"
)

// A client certificate's CN is the user and each O a group.
func ExampleNewX509Authenticator() {
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, err := ca.Sign(key.Public(), pki.CertOptions{
		Subject:     pkix.Name{CommonName: "jane", Organization: []string{"dev"}, OrganizationalUnit: []string{"ignored"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	authn := apiserver.NewX509Authenticator(roots, nil)

	r := httptest.NewRequest("GET", "https://127.0.0.1:6443/api", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	u, ok, err := authn.AuthenticateRequest(r)
	fmt.Println(u.Name, u.Groups, ok, err)
	// Output: jane [dev system:authenticated] true <nil>
}
