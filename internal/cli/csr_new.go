package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/spf13/cobra"
)

// csrNewOptions are the flags of "kubepki csr new".
type csrNewOptions struct {
	keyFile string
	subject string
	sans    []string
	out     string
	force   bool
}

// newCSRNewCommand returns "csr new", which makes a certificate request
// from an existing key, like "openssl req -new -key".
func newCSRNewCommand(streams IOStreams) *cobra.Command {
	o := &csrNewOptions{}
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create a certificate request from a key (openssl req -new)",
		Long: `Create a PKCS#10 certificate request ("CERTIFICATE REQUEST") signed with --key, with
the subject given in openssl's form and the SANs given as DNS:, IP:, URI: or email:
(bare names are IPs if they parse as one, DNS names otherwise). The key may be in any
common PEM form or DER, as openssl genrsa, genpkey or kubepki key new make it.
Requests carry no usages: the signer decides them. Written to -o (0600) or stdout.`,
		Example: `  kubepki csr new --key jane.key --subject "/CN=jane/O=dev/O=ops" -o jane.csr
  kubepki csr new --key node.key --subject "/CN=system:node:w1/O=system:nodes" --san DNS:w1 --san IP:10.0.0.21`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "key", "", "private key file to sign the request with (required)")
	f.StringVar(&o.subject, "subject", "", `subject in openssl form, e.g. "/CN=jane/O=dev" (required)`)
	f.StringSliceVar(&o.sans, "san", nil, "subject alternative name: DNS:x, IP:1.2.3.4, URI:…, email:… (repeatable)")
	f.StringVarP(&o.out, "out", "o", "", "file for the request (default: stdout)")
	f.BoolVar(&o.force, "force", false, "replace an existing -o file")
	return cmd
}

// Validate checks the required flags.
func (o *csrNewOptions) Validate() error {
	if o.keyFile == "" {
		return &UsageError{Err: errors.New("--key is required: make one with \"kubepki key new -o FILE\"")}
	}
	if o.subject == "" {
		return &UsageError{Err: errors.New(`--subject is required, e.g. --subject "/CN=jane/O=dev"`)}
	}
	if o.out != "" && !o.force {
		if _, err := os.Lstat(o.out); err == nil {
			return fmt.Errorf("%s already exists: move it away or pass --force to replace it", o.out)
		}
	}
	return nil
}

// Run reads the key, builds and writes the request.
func (o *csrNewOptions) Run(streams IOStreams) error {
	subject, err := pki.ParseSubject(o.subject)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--subject: %w", err)}
	}
	sans, err := pki.ParseSANs(o.sans)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--san: %w", err)}
	}
	key, err := pki.ReadPrivateKeyFile(o.keyFile)
	if err != nil {
		return err
	}
	der, err := pki.CreateCSR(key, subject, sans)
	if err != nil {
		return fmt.Errorf("%s: %w", o.keyFile, err)
	}
	data := pki.MarshalCSRPEM(der)
	return writeOutput(streams, o.out, data, pki.ModeCSR, o.force)
}
