package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/spf13/cobra"
)

func newKeyCommand(streams IOStreams) *cobra.Command {
	return newGroupCommand("key", "Generate private keys", "", newKeyNewCommand(streams))
}

// keyNewOptions are the flags of "kubepki key new".
type keyNewOptions struct {
	algorithm string
	out       string
	pubOut    string
	force     bool

	alg pki.KeyAlgorithm
}

func newKeyNewCommand(streams IOStreams) *cobra.Command {
	o := &keyNewOptions{}
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Generate a private key (openssl genpkey)",
		Long: `Generate a private key and write it 0600, atomically: RSA as PKCS#1 ("RSA PRIVATE
KEY"), ECDSA as SEC1 ("EC PRIVATE KEY"), Ed25519 as PKCS#8 ("PRIVATE KEY"), as kubeadm
and client-go write them. --pub-out also writes the public key ("PUBLIC KEY"), as
sa.pub. Existing files are not replaced unless --force.`,
		Example: `  kubepki key new -o apiserver.key
  kubepki key new --algorithm rsa-2048 -o sa.key --pub-out sa.pub`,
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
	f.StringVar(&o.algorithm, "algorithm", string(pki.DefaultKeyAlgorithm), "key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.StringVarP(&o.out, "out", "o", "", "file for the private key (0600); required")
	f.StringVar(&o.pubOut, "pub-out", "", "also write the public key to this file (0600)")
	f.BoolVar(&o.force, "force", false, "replace existing files")
	return cmd
}

// Complete parses the algorithm.
func (o *keyNewOptions) Complete() error {
	alg, err := pki.ParseKeyAlgorithm(o.algorithm)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--algorithm: %w", err)}
	}
	o.alg = alg
	return nil
}

// Validate checks the output files.
func (o *keyNewOptions) Validate() error {
	if o.out == "" {
		return &UsageError{Err: errors.New("-o FILE is required: the key is never written to the terminal")}
	}
	if o.pubOut == o.out {
		return &UsageError{Err: errors.New("--pub-out must differ from -o")}
	}
	if !o.force {
		for _, p := range []string{o.out, o.pubOut} {
			if _, err := os.Lstat(p); p != "" && err == nil {
				return fmt.Errorf("%s already exists: move it away or pass --force to replace it", p)
			}
		}
	}
	return nil
}

// Run generates the key and writes the files.
func (o *keyNewOptions) Run(ctx context.Context, streams IOStreams) error {
	key, err := pki.GenerateKey(o.alg)
	if err != nil {
		return err
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	defer clear(keyPEM)
	if o.pubOut == "" {
		return writeOutput(streams, o.out, keyPEM, pki.ModeKey, o.force)
	}
	pubPEM, err := pki.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		return err
	}
	keyStatus, pubStatus := statusBefore(o.out), statusBefore(o.pubOut)
	if err := writeKeyAnd(ctx, o.pubOut, pubPEM, pki.ModePublicKey, o.out, keyPEM, o.force, nil); err != nil {
		return err
	}
	return printFileStatuses(streams.Out, fileStatus{keyStatus, o.out}, fileStatus{pubStatus, o.pubOut})
}
