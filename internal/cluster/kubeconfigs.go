package cluster

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// embedded is the current context of a kubeconfig with its cluster and
// user resolved.
type embedded struct {
	cfg     *clientcmdapi.Config
	cluster *clientcmdapi.Cluster
	user    *clientcmdapi.AuthInfo
	cert    *x509.Certificate
}

// readEmbedded reads the kubeconfig at path and the client certificate its
// current context's user embeds. Errors are *MismatchError.
func readEmbedded(path string) (*embedded, error) {
	cfg, err := kubeconfig.Read(path)
	if err != nil {
		return nil, &MismatchError{File: path, Problem: "cannot be read: " + err.Error()}
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil {
		return nil, &MismatchError{File: path, Problem: fmt.Sprintf("has no current context (current-context %q)", cfg.CurrentContext)}
	}
	cl, user := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	if cl == nil || user == nil {
		return nil, &MismatchError{File: path, Problem: fmt.Sprintf("context %q names a cluster or user that is not in the file", cfg.CurrentContext)}
	}
	if len(user.ClientCertificateData) == 0 {
		return nil, &MismatchError{File: path, Problem: fmt.Sprintf("user %q: %v", kctx.AuthInfo, ErrNoEmbeddedCert), Err: ErrNoEmbeddedCert}
	}
	cert, err := pki.ParseCertificatePEM(user.ClientCertificateData)
	if err != nil {
		return nil, &MismatchError{File: path, Problem: "has an unreadable client-certificate-data: " + err.Error()}
	}
	return &embedded{cfg: cfg, cluster: cl, user: user, cert: cert}, nil
}

// checkKubeconfig checks an existing kubeconfig the way kubeadm does on
// init (the current context's cluster has the CA's certificate; a
// different server only warns) and also checks its embedded client
// certificate against k: signed by the CA, subject, clientAuth, in date,
// with the matching key.
func checkKubeconfig(path string, k KubeconfigSpec, caCert *x509.Certificate, now time.Time) (pairState, *x509.Certificate, crypto.Signer, string, error) {
	if !exists(path) {
		return stateAbsent, nil, nil, "", nil
	}
	if !k.Expiration && k.CertBaseName == "" {
		// kubelet.conf after kubeadm's kubelet-finalize phase points at
		// the kubelet's rotated kubelet-client-current.pem instead of
		// embedding a certificate; like kubeadm, only its CA is checked.
		if ok, err := caOnlyKubeconfig(path, caCert); ok || err != nil {
			return stateValid, nil, nil, "", err
		}
	}
	e, err := readEmbedded(path)
	if err != nil {
		return 0, nil, nil, "", err
	}
	if !sameCA(e.cluster, caCert) {
		return 0, nil, nil, "", &MismatchError{File: path, Problem: "exists already but has got the wrong CA cert"}
	}
	key, err := pki.ParsePrivateKeyPEM(e.user.ClientKeyData)
	if err != nil {
		return 0, nil, nil, "", &MismatchError{File: path, Problem: "has an unreadable client-key-data: " + err.Error()}
	}
	if err := pki.KeyMatchesCertificate(key, e.cert); err != nil {
		return 0, nil, nil, "", &MismatchError{File: path, Problem: "has a client-key-data that does not match its client-certificate-data"}
	}
	if p := wantOfKubeconfig(k).problem(e.cert, caCert, now); p != "" {
		return 0, nil, nil, "", &MismatchError{File: path, Problem: "client certificate " + p, Fix: expiredFix(e.cert, now, renewableName(k))}
	}
	warn := ""
	if e.cluster.Server != k.Server {
		warn = fmt.Sprintf("%s: server is %q, the plan says %q; kept as it is", path, e.cluster.Server, k.Server)
	}
	return stateValid, e.cert, key, warn, nil
}

// sameCA reports whether a kubeconfig cluster embeds caCert (first
// certificate of certificate-authority-data, or of the certificate-authority
// file).
func sameCA(cl *clientcmdapi.Cluster, caCert *x509.Certificate) bool {
	data := cl.CertificateAuthorityData
	if len(data) == 0 && cl.CertificateAuthority != "" {
		var err error
		if data, err = pki.ReadFile(cl.CertificateAuthority); err != nil {
			return false
		}
	}
	cas, err := pki.ParseCertificatesPEM(data)
	return err == nil && cas[0].Equal(caCert)
}

// caOnlyKubeconfig reports whether the kubeconfig at path authenticates
// with client certificate files (not embedded data) and trusts caCert.
// A wrong CA is a *MismatchError.
func caOnlyKubeconfig(path string, caCert *x509.Certificate) (bool, error) {
	cfg, err := kubeconfig.Read(path)
	if err != nil {
		return false, nil // readEmbedded reports it
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || cfg.Clusters[kctx.Cluster] == nil || cfg.AuthInfos[kctx.AuthInfo] == nil {
		return false, nil
	}
	user := cfg.AuthInfos[kctx.AuthInfo]
	if len(user.ClientCertificateData) > 0 || user.ClientCertificate == "" {
		return false, nil
	}
	if !sameCA(cfg.Clusters[kctx.Cluster], caCert) {
		return false, &MismatchError{File: path, Problem: "exists already but has got the wrong CA cert"}
	}
	return true, nil
}

// renewableName is k's name for "certs renew", or "" for kubelet.conf,
// which renew leaves to the kubelet's own rotation, as kubeadm's does.
func renewableName(k KubeconfigSpec) string {
	if k.Name == "kubelet.conf" {
		return ""
	}
	return k.Name
}
