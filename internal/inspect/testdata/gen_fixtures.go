//go:build ignore

// This program writes the fixed test certificates, keys and kubeconfig
// under fixtures/ that the golden-file tests of package inspect describe.
// Every key it writes is a throwaway test key. Times are fixed (the CAs
// start 2026-01-01, leaves last a year) so that, with the tests' fixed
// clock, inspect output is the same on every run. Run it from this
// directory with:
//
//	go run gen_fixtures.go
//
// then rewrite the golden files with "go test -update" in the package
// folder and review their diff.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	dir := "fixtures"
	if err := os.RemoveAll(dir); err != nil {
		log.Fatal(err)
	}
	ca, caKey := newCA("kubernetes")
	write(dir, "pki/ca.crt", certPEM(ca))
	write(dir, "pki/ca.key", keyPEM(caKey))
	fp, _ := newCA("front-proxy-ca")
	write(dir, "pki/front-proxy-ca.crt", certPEM(fp))
	etcdCA, etcdKey := newCA("etcd-ca")
	write(dir, "pki/etcd/ca.crt", certPEM(etcdCA))

	api, apiKey := leaf(ca, caKey, pkix.Name{CommonName: "kube-apiserver"}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		[]string{"cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("10.0.0.10")})
	write(dir, "pki/apiserver.crt", certPEM(api))
	write(dir, "pki/apiserver.key", keyPEM(apiKey))

	srv, _ := leaf(etcdCA, etcdKey, pkix.Name{CommonName: "cp1"}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		[]string{"cp1", "localhost"}, []net.IP{net.ParseIP("10.0.0.10"), net.ParseIP("127.0.0.1"), net.ParseIP("::1")})
	write(dir, "pki/etcd/server.der", srv.Raw)

	kubelet, kubeletKey := leaf(ca, caKey, pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	ca64 := certPEM(ca)
	write(dir, "kubelet.conf", []byte(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: https://10.0.0.10:6443
    certificate-authority-data: `+b64(ca64)+`
contexts:
- name: system:node:n1@kubernetes
  context:
    cluster: kubernetes
    user: system:node:n1
current-context: system:node:n1@kubernetes
users:
- name: system:node:n1
  user:
    client-certificate-data: `+b64(certPEM(kubelet))+`
    client-key-data: `+b64(keyPEM(kubeletKey))+`
`))

	// A user whose name carries a terminal escape: inspect must not pass it on.
	evil, _ := leaf(ca, caKey, pkix.Name{CommonName: "jane\x1b[2J", Organization: []string{"dev", "ops"}}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	write(dir, "users/bundle.pem", append(certPEM(evil), certPEM(ca)...))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "system:node:n2", Organization: []string{"system:nodes"}},
		DNSNames: []string{"n2"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.12")},
	}, rsaKey)
	if err != nil {
		log.Fatal(err)
	}
	write(dir, "n2.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	pubDER, err := x509.MarshalPKIXPublicKey(rsaKey.Public())
	if err != nil {
		log.Fatal(err)
	}
	write(dir, "sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	write(dir, "manifests/kube-apiserver.yaml", []byte(manifest))
	write(dir, "README.md", []byte(readme))
}

// manifest names its files relative to itself, so that the golden output
// does not depend on where the fixtures are.
const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.35.0
    command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --client-ca-file=../pki/ca.crt
    - --tls-cert-file=../pki/apiserver.crt
    - --tls-private-key-file=../pki/apiserver.key
    - --etcd-cafile=../pki/etcd/ca.crt
    - --requestheader-client-ca-file
    - ../pki/front-proxy-ca.crt
    - --service-account-key-file=../sa.pub
`

const readme = "Fixed test certificates, keys and a kubeconfig for the golden-file tests of\n" +
	"package inspect, written by `go run gen_fixtures.go` in the parent folder.\n" +
	"Every private key here (pki/ca.key, pki/apiserver.key, the client key in\n" +
	"kubelet.conf) is a throwaway test key that protects nothing.\n"

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func newCA(cn string) (*x509.Certificate, crypto.Signer) {
	key := genKey()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{cn},
		NotBefore:             start.Add(-5 * time.Minute),
		NotAfter:              start.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	return cert, key
}

func leaf(ca *x509.Certificate, caKey crypto.Signer, subject pkix.Name, ekus []x509.ExtKeyUsage, dns []string, ips []net.IP) (*x509.Certificate, crypto.Signer) {
	key := genKey()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               subject,
		DNSNames:              dns,
		IPAddresses:           ips,
		NotBefore:             start.Add(-5 * time.Minute),
		NotAfter:              start.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           ekus,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	return cert, key
}

func genKey() crypto.Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	return key
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		log.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		log.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func write(dir, name string, data []byte) {
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		log.Fatal(err)
	}
}
