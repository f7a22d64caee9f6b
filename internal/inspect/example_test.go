package inspect_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
)

// A certificate template is linted before it is issued: here a kubelet
// client certificate whose node name a guide wrote in upper case.
func ExampleLintCertificate() {
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
		Subject:     pkix.Name{CommonName: "system:node:Node01", Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range inspect.LintCertificate(cert, inspect.Context{CA: ca.Cert, Now: time.Now()}) {
		fmt.Println(f.Severity, f.Rule, f.Message)
	}
	// Output:
	// error L01 node name "Node01" in common name "system:node:Node01" is not a lower-case DNS-1123 subdomain
}

// Parse tells what a file holds without being told its format.
func ExampleParse() {
	objs, err := inspect.Parse([]byte("apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: https://10.0.0.10:6443\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range objs {
		fmt.Println(o.Kind, o.Kubeconfig.Clusters["kubernetes"].Server)
	}
	// Output:
	// kubeconfig https://10.0.0.10:6443
}
