package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig builds the client TLS configuration for kube-apiserver's
// --etcd-cafile, --etcd-certfile and --etcd-keyfile: caFile (PEM, one or
// more certificates) verifies the members' serving certificates, and
// certFile with keyFile (PEM) is the client certificate presented to them,
// such as kubeadm's apiserver-etcd-client.crt. caFile is required; the
// client pair is optional but must be given together. The configuration
// requires TLS 1.2 or later.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("etcd TLS: no CA file given; set --etcd-cafile to the etcd CA certificate (for kubeadm: /etc/kubernetes/pki/etcd/ca.crt)")
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("etcd TLS: client certificate %q and key %q must be given together; set both --etcd-certfile and --etcd-keyfile", certFile, keyFile)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("etcd TLS: CA file %s holds no PEM certificate; point --etcd-cafile at the etcd CA certificate", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: load client certificate %s and key %s (check that the key belongs to the certificate): %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
