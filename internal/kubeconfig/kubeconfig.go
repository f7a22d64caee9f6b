// Package kubeconfig builds, reads, merges, writes and checks kubeconfig
// files on k8s.io/client-go/tools/clientcmd, so that loading and merging
// follow kubectl's own rules. It does not log; it returns values and
// errors.
package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepki/kubepki/internal/pki"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ContextName returns the context name kubeadm gives a kubeconfig for
// userName in clusterName: "<user>@<cluster>", for example
// "kubernetes-admin@kubernetes".
func ContextName(userName, clusterName string) string {
	return userName + "@" + clusterName
}

// NewCertConfig returns a kubeconfig in the shape kubeadm writes for
// certificate authentication: one cluster clusterName with server and the CA
// certificate caPEM embedded as certificate-authority-data, one user userName
// with certPEM and keyPEM embedded as client-certificate-data and
// client-key-data, and one context "<user>@<cluster>" (no namespace) that is
// the current context. The byte slices are copied.
func NewCertConfig(clusterName, server string, caPEM []byte, userName string, certPEM, keyPEM []byte) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = append([]byte(nil), caPEM...)
	cfg.Clusters[clusterName] = cluster

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = append([]byte(nil), certPEM...)
	user.ClientKeyData = append([]byte(nil), keyPEM...)
	cfg.AuthInfos[userName] = user

	name := ContextName(userName, clusterName)
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = clusterName
	kctx.AuthInfo = userName
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	return cfg
}

// Marshal encodes cfg as a v1 kubeconfig in YAML, as clientcmd.Write does.
func Marshal(cfg *clientcmdapi.Config) ([]byte, error) {
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return b, nil
}

// Parse decodes a kubeconfig from data. Empty data is an empty config, as
// for kubectl. Relative paths inside it are kept as written.
func Parse(data []byte) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("decode kubeconfig: %w", err)
	}
	return cfg, nil
}

// Write encodes cfg and writes it to path with [pki.WriteFile] and mode
// [pki.ModeKubeconfig] (0600: kubeconfigs carry credentials), atomically,
// replacing an existing regular file. It refuses to write through a symlink
// or over a non-regular file ([pki.ErrUnsafePath]).
func Write(path string, cfg *clientcmdapi.Config) error {
	b, err := Marshal(cfg)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	defer clear(b)
	if err := pki.WriteFile(path, b, pki.ModeKubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// Read loads the kubeconfig at path with clientcmd's loader: relative
// paths in it are resolved against the file's directory and every entry
// records path as its LocationOfOrigin. A missing file is an error wrapping
// [fs.ErrNotExist]; an unparseable one names the file.
func Read(path string) (*clientcmdapi.Config, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read kubeconfig %s: %w; check the path or --kubeconfig", path, err)
		}
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
