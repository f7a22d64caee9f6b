package pki_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"

	"github.com/kubepki/kubepki/internal/pki"
)

func ExampleCA_Sign() {
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		panic(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeyAlgorithm)
	if err != nil {
		panic(err)
	}
	cert, err := ca.Sign(key.Public(), pki.CertOptions{
		Subject:     pkix.Name{CommonName: "jane", Organization: []string{"developers"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cert.Subject, cert.Issuer, cert.IsCA)
	// Output: CN=jane,O=developers CN=kubernetes false
}

func ExampleParseSubject() {
	n, err := pki.ParseSubject("/CN=system:node:node01/O=system:nodes")
	if err != nil {
		panic(err)
	}
	fmt.Println(n.CommonName, n.Organization)
	// Output: system:node:node01 [system:nodes]
}
