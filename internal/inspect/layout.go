package inspect

import (
	"path/filepath"
	"slices"
	"strings"
)

// kubeadmPair is a certificate and its key in kubeadm's layout, as paths
// relative to the certificate folder in the form [fileKey] returns.
type kubeadmPair struct {
	cert, key string
	// keyOptional marks a public half that is handed out alone: a worker
	// node, and a control plane with an external CA (kubeadm's "external
	// CA mode"), keep a CA's certificate without its key, and token
	// verifiers outside the control plane get sa.pub only. Then only the
	// key without its public half is wrong.
	keyOptional bool
}

// kubeadmPairs are the pairs of "kubeadm init phase certs all"
// (kubernetes-pki.md §1.2, kubeadm's certlist.go), and the service-account
// signing key, whose public half is sa.pub.
var kubeadmPairs = []kubeadmPair{
	{cert: "ca.crt", key: "ca.key", keyOptional: true},
	{cert: "front-proxy-ca.crt", key: "front-proxy-ca.key", keyOptional: true},
	{cert: "etcd/ca.crt", key: "etcd/ca.key", keyOptional: true},
	{cert: "apiserver.crt", key: "apiserver.key"},
	{cert: "apiserver-kubelet-client.crt", key: "apiserver-kubelet-client.key"},
	{cert: "apiserver-etcd-client.crt", key: "apiserver-etcd-client.key"},
	{cert: "front-proxy-client.crt", key: "front-proxy-client.key"},
	{cert: "etcd/server.crt", key: "etcd/server.key"},
	{cert: "etcd/peer.crt", key: "etcd/peer.key"},
	{cert: "etcd/healthcheck-client.crt", key: "etcd/healthcheck-client.key"},
	{cert: "sa.pub", key: "sa.key", keyOptional: true},
}

// kubeadmKubeconfigs are the kubeconfig files kubeadm writes next to the
// certificate folder ("kubeadm init phase kubeconfig all", and kubeadm
// join's bootstrap-kubelet.conf).
var kubeadmKubeconfigs = []string{
	"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf", "bootstrap-kubelet.conf",
}

// pemExtensions are the extensions of files that hold PEM (or DER) and
// nothing else, whatever their base name.
var pemExtensions = []string{".crt", ".key", ".pem", ".pub", ".csr"}

// isKubeadmFile reports whether path has one of the names of kubeadm's
// layout.
func isKubeadmFile(path string) bool {
	name := fileKey(path)
	for _, p := range kubeadmPairs {
		if name == p.cert || name == p.key {
			return true
		}
	}
	for _, k := range kubeadmKubeconfigs {
		if name == k {
			return true
		}
	}
	return false
}

// mustParse reports whether a file met in a directory walk must parse: a
// file of kubeadm's layout, or one whose extension says it holds PEM. A
// walk skips other files it cannot parse (README, manifests).
func mustParse(path string) bool {
	if path == "" {
		return false
	}
	return isKubeadmFile(path) || hasPEMExtension(path)
}

// hasPEMExtension reports whether path's extension is one of
// [pemExtensions].
func hasPEMExtension(path string) bool {
	return slices.Contains(pemExtensions, strings.ToLower(filepath.Ext(path)))
}

// expectedKind returns the kind of object path's name says it holds:
// *.crt a certificate, *.key a private key, *.pub a public key, kubeadm's
// *.conf files a kubeconfig; "" when the name says nothing (*.pem, which
// kubelets use for certificate and key together, and other names).
func expectedKind(path string) Kind {
	if path == "" {
		return ""
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".crt":
		return KindCertificate
	case ".key":
		return KindPrivateKey
	case ".pub":
		return KindPublicKey
	case ".conf":
		if isKubeadmFile(path) {
			return KindKubeconfig
		}
	}
	return ""
}

// kindNames are the phrases findings use for each kind of object.
var kindNames = map[Kind]string{
	KindCertificate: "a certificate",
	KindCSR:         "a certificate request",
	KindPrivateKey:  "a private key",
	KindPublicKey:   "a public key",
	KindKubeconfig:  "a kubeconfig",
	KindCSRObject:   "a CertificateSigningRequest object",
}

// partnerOf returns, for a file walked at path, the other half of its
// kubeadm pair, and what path itself holds ("certificate", "public key",
// "private key"); ok is false when path is no half, or is a public half
// whose key may be absent ([kubeadmPair.keyOptional]).
func partnerOf(path string) (partner, holds string, ok bool) {
	name := fileKey(path)
	dir := filepath.Dir(path)
	for _, p := range kubeadmPairs {
		switch name {
		case p.cert:
			if p.keyOptional {
				return "", "", false
			}
			holds = "certificate"
			if strings.HasSuffix(p.cert, ".pub") {
				holds = "public key"
			}
			return filepath.Join(dir, filepath.Base(p.key)), holds, true
		case p.key:
			return filepath.Join(dir, filepath.Base(p.cert)), "private key", true
		}
	}
	return "", "", false
}
