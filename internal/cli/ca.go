package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/pki"
)

func newCACommand(streams IOStreams) *cobra.Command {
	return newGroupCommand("ca", "Create certificate authorities", "", newCANewCommand(streams))
}

// caNewOptions are the flags of "kubepki ca new".
type caNewOptions struct {
	commonName   string
	certOut      string
	keyOut       string
	keyAlgorithm string
	validity     time.Duration
	force        bool

	alg pki.KeyAlgorithm
	// beforeRename is the test hook of [cluster.WriteFilesOptions].
	beforeRename func(path string) error
}

func newCANewCommand(streams IOStreams) *cobra.Command {
	o := &caNewOptions{}
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create a self-signed root CA (openssl req -x509 -newkey)",
		Long: `Create a self-signed root CA in kubeadm's shape: subject CN, the CN as DNS SAN
when it is a DNS name, CA:TRUE, key usages digitalSignature, keyEncipherment (not
for an Ed25519 key) and keyCertSign, a subject key ID and a 128-bit random serial. The key is written 0600, the certificate 0644. Existing
files are not replaced unless --force.

SECURITY NOTICE: the CA key signs credentials; keep it private.`,
		Example: `  kubepki ca new --common-name kubernetes --cert-out ca.crt --key-out ca.key
  kubepki ca new --common-name etcd-ca --algorithm rsa-2048 --validity 43800h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.commonName, "common-name", "kubernetes", "subject CN of the CA (and its DNS SAN, when it is a DNS name)")
	f.StringVar(&o.certOut, "cert-out", "ca.crt", "file for the CA certificate (0644)")
	f.StringVar(&o.keyOut, "key-out", "ca.key", "file for the CA key (0600)")
	f.StringVar(&o.keyAlgorithm, "algorithm", string(pki.DefaultKeyAlgorithm), "key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.DurationVar(&o.validity, "validity", pki.DefaultCAValidity, "lifetime of the CA certificate")
	f.BoolVar(&o.force, "force", false, "replace existing files")
	return cmd
}

// Complete parses the algorithm.
func (o *caNewOptions) Complete() error {
	alg, err := pki.ParseKeyAlgorithm(o.keyAlgorithm)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--algorithm: %w", err)}
	}
	o.alg = alg
	return nil
}

// Validate checks names, validity and that nothing is in the way.
func (o *caNewOptions) Validate() error {
	switch {
	case o.commonName == "":
		return &UsageError{Err: errors.New("--common-name is empty")}
	case o.validity <= 0:
		return &UsageError{Err: fmt.Errorf("--validity %s must be positive", o.validity)}
	case o.certOut == "" || o.keyOut == "" || o.certOut == o.keyOut:
		return &UsageError{Err: errors.New("--cert-out and --key-out must be two different files")}
	}
	if !o.force {
		for _, p := range []string{o.certOut, o.keyOut} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s already exists: move it away or pass --force to replace it", p)
			}
		}
	}
	return nil
}

// Run makes the CA and writes the key and the certificate as one commit
// (see [writeKeyAnd]): an old pair is replaced as a whole or kept.
func (o *caNewOptions) Run(ctx context.Context, streams IOStreams) error {
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: o.commonName, KeyAlgorithm: o.alg, Validity: o.validity})
	if err != nil {
		return err
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(ca.Key)
	if err != nil {
		return err
	}
	defer clear(keyPEM)
	certStatus, keyStatus := statusBefore(o.certOut), statusBefore(o.keyOut)
	if err := writePair(ctx, o.certOut, pki.MarshalCertificatePEM(ca.Cert), o.keyOut, keyPEM, o.force, o.beforeRename); err != nil {
		return err
	}
	return printFileStatuses(streams.Out, fileStatus{certStatus, o.certOut}, fileStatus{keyStatus, o.keyOut})
}

// writePair writes a key (0600) and a certificate (0644) as a unit (see
// [writeKeyAnd]).
func writePair(ctx context.Context, certPath string, certPEM []byte, keyPath string, keyPEM []byte, force bool, beforeRename func(string) error) error {
	return writeKeyAnd(ctx, certPath, certPEM, pki.ModeCert, keyPath, keyPEM, force, beforeRename)
}

// writeKeyAnd writes keyPEM to keyPath (0600) and certPEM to certPath
// with certMode as one commit of [cluster.WriteFiles], as init and certs
// renew do: both files are replaced, or neither, also across a crash
// (the next run completes the commit), and a failure to put the old
// files back is part of the error. Without force, existing files are
// not replaced. beforeRename is the test hook of
// [cluster.WriteFilesOptions]; nil outside tests.
func writeKeyAnd(ctx context.Context, certPath string, certPEM []byte, certMode os.FileMode, keyPath string, keyPEM []byte, force bool, beforeRename func(string) error) error {
	err := cluster.WriteFiles(ctx, []cluster.File{
		{Path: keyPath, Data: keyPEM, Mode: pki.ModeKey},
		{Path: certPath, Data: certPEM, Mode: certMode},
	}, cluster.WriteFilesOptions{Replace: force, BeforeRename: beforeRename})
	if errors.Is(err, pki.ErrExists) {
		return fmt.Errorf("%w; move it away or pass --force to replace it", err)
	}
	return err
}
