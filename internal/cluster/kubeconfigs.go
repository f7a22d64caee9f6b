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
		return nil, &MismatchError{File: path, Problem: fmt.Sprintf("user %q: %v", kctx.AuthInfo, ErrNoEmbeddedCert)}
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
	e, err := readEmbedded(path)
	if err != nil {
		return 0, nil, nil, "", err
	}
	cas, err := pki.ParseCertificatesPEM(e.cluster.CertificateAuthorityData)
	if err != nil || !cas[0].Equal(caCert) {
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
		return 0, nil, nil, "", &MismatchError{File: path, Problem: "client certificate " + p}
	}
	warn := ""
	if e.cluster.Server != k.Server {
		warn = fmt.Sprintf("%s: server is %q, the plan says %q; kept as it is", path, e.cluster.Server, k.Server)
	}
	return stateValid, e.cert, key, warn, nil
}
