package cli

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/spf13/cobra"
)

// signOptions are the flags of "kubepki sign".
type signOptions struct {
	caCert   string
	caKey    string
	csrFile  string
	usages   []string
	duration time.Duration
	out      string
	force    bool

	keyUsage x509.KeyUsage
	extUsage []x509.ExtKeyUsage
}

func newSignCommand(streams IOStreams) *cobra.Command {
	o := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a certificate request with a CA (openssl x509 -req -CA)",
		Long: `Sign a certificate request with a CA. Only the request's subject and SANs are copied;
its extensions (such as the basicConstraints or usages an openssl config asked for)
are never copied: the usages come from --usages, in the Certificates API's words
(digital signature, key encipherment, client auth, server auth, code signing, email
protection). Leaves are CA:FALSE, with a 128-bit random serial, NotBefore back-dated
5 minutes and NotAfter capped at the CA's. The request is checked first, as the
Certificates API checks spec.request: its signature and signature algorithm, its key
(ECDSA P-256 or P-384, RSA 2048, 3072 or 4096 with exponent 65537, Ed25519), at most
one CN, no control characters and at most 256 SANs.

SECURITY NOTICE: the certificate authenticates whoever holds the request's key as the
request's subject. Check the subject (CN = user, O = groups) before signing.`,
		Example: `  kubepki sign --ca-cert ca.crt --ca-key ca.key --csr jane.csr --usages "client auth" -o jane.crt
  openssl req -new -key web.key -config san.cnf -out web.csr
  kubepki sign --ca-cert ca.crt --ca-key ca.key --csr web.csr --usages "digital signature,key encipherment,server auth" --duration 720h -o web.crt

  # The request from a pipe, the certificate to stdout
  openssl req -new -key jane.key -subj "/CN=jane/O=dev" | kubepki sign --ca-cert ca.crt --ca-key ca.key --csr - --usages "digital signature,client auth"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.caCert, "ca-cert", "", "CA certificate file (required)")
	f.StringVar(&o.caKey, "ca-key", "", "CA key file, mode 0600 (required)")
	f.StringVar(&o.csrFile, "csr", "", `certificate request file, PEM or DER, or "-" for standard input (required)`)
	f.StringSliceVar(&o.usages, "usages", []string{"digital signature", "key encipherment", "client auth"}, "comma-separated usages")
	f.DurationVar(&o.duration, "duration", pki.DefaultValidity, "lifetime of the certificate")
	f.StringVarP(&o.out, "out", "o", "", "file for the certificate, 0644 (default: stdout)")
	f.BoolVar(&o.force, "force", false, "replace an existing -o file")
	return cmd
}

// parseUsages maps the Certificates API's usage names (kubernetes-pki
// reference §4.4) to X.509 key usages and extended key usages.
func parseUsages(names []string) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	var eku []x509.ExtKeyUsage
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "digital signature":
			ku |= x509.KeyUsageDigitalSignature
		case "key encipherment":
			ku |= x509.KeyUsageKeyEncipherment
		case "client auth":
			eku = append(eku, x509.ExtKeyUsageClientAuth)
		case "server auth":
			eku = append(eku, x509.ExtKeyUsageServerAuth)
		case "code signing":
			eku = append(eku, x509.ExtKeyUsageCodeSigning)
		case "email protection":
			eku = append(eku, x509.ExtKeyUsageEmailProtection)
		case "":
		default:
			return 0, nil, fmt.Errorf("unknown usage %q: use digital signature, key encipherment, client auth, server auth, code signing or email protection", n)
		}
	}
	return ku, eku, nil
}

// Complete parses the usages.
func (o *signOptions) Complete() error {
	ku, eku, err := parseUsages(o.usages)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--usages: %w", err)}
	}
	o.keyUsage, o.extUsage = ku, eku
	return nil
}

// Validate checks the required flags.
func (o *signOptions) Validate() error {
	var missing []string
	for flag, v := range map[string]string{"--ca-cert": o.caCert, "--ca-key": o.caKey, "--csr": o.csrFile} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		return &UsageError{Err: fmt.Errorf("%s required", strings.Join(slices.Sorted(slices.Values(missing)), ", "))}
	}
	if o.duration < 10*time.Minute {
		return &UsageError{Err: fmt.Errorf("--duration %s is too short: use at least 10m", o.duration)}
	}
	if len(o.extUsage) == 0 {
		return &UsageError{Err: errors.New("--usages names no extended usage: add client auth or server auth")}
	}
	if o.out != "" && !o.force {
		if _, err := os.Lstat(o.out); err == nil {
			return fmt.Errorf("%s already exists: move it away or pass --force to replace it", o.out)
		}
	}
	return nil
}

// maxSignInput caps a request read from standard input, as
// certificates.MaxRequestBytes caps spec.request.
const maxSignInput = certificates.MaxRequestBytes

// csrName is how messages name the request: its file, or standard input.
func (o *signOptions) csrName() string {
	if o.csrFile == "-" {
		return "the request on standard input"
	}
	return o.csrFile
}

// readRequest reads the PEM or DER request from --csr, or from in when
// --csr is "-".
func (o *signOptions) readRequest(in io.Reader) (*x509.CertificateRequest, error) {
	if o.csrFile != "-" {
		return pki.ReadCSRFile(o.csrFile)
	}
	data, err := io.ReadAll(io.LimitReader(in, maxSignInput+1))
	if err != nil {
		return nil, fmt.Errorf("read certificate request from standard input: %w", err)
	}
	if len(data) > maxSignInput {
		return nil, fmt.Errorf("read certificate request from standard input: more than %d bytes", maxSignInput)
	}
	csr, err := pki.ParseCSRPEM(data)
	if err != nil {
		return nil, fmt.Errorf("read certificate request from standard input: %w", err)
	}
	return csr, nil
}

// Run loads the CA and the request, signs and writes the certificate.
func (o *signOptions) Run(streams IOStreams) error {
	ca, err := pki.LoadCA(o.caCert, o.caKey)
	if err != nil {
		return err
	}
	csr, err := o.readRequest(streams.In)
	if err != nil {
		return err
	}
	// The Certificates API's own policy (key, signature, one CN, no
	// control characters, SAN caps), so that a request refused there is
	// not signed here.
	if err := certificates.CheckRequest(csr); err != nil {
		return fmt.Errorf("%s: %w; make a new request", o.csrName(), err)
	}
	if slices.Contains(o.extUsage, x509.ExtKeyUsageClientAuth) {
		warnOfIdentity(streams.ErrOut, o.csrName(), csr.Subject.CommonName, csr.Subject.Organization)
	}
	keyUsage := o.keyUsage
	if _, ok := csr.PublicKey.(ed25519.PublicKey); ok && keyUsage&x509.KeyUsageKeyEncipherment != 0 {
		keyUsage &^= x509.KeyUsageKeyEncipherment
		fmt.Fprintf(streams.ErrOut, "warning: %s: key encipherment left out: the request's key is Ed25519, which can only sign (RFC 8410 §5)\n", o.csrName())
	}
	cert, err := ca.Sign(csr.PublicKey, pki.CertOptions{
		Subject:     csr.Subject,
		SANs:        pki.SANsOf(csr),
		KeyUsage:    keyUsage,
		ExtKeyUsage: o.extUsage,
		Validity:    o.duration,
	})
	if err != nil {
		return fmt.Errorf("sign %s with %s: %w", o.csrName(), o.caCert, err)
	}
	data := pki.MarshalCertificatePEM(cert)
	return writeOutput(streams, o.out, data, pki.ModeCert, o.force)
}

// warnOfIdentity warns on w, before a client certificate exists, when
// its user name or groups carry more than their names say: group
// system:masters (as lint's L13 flags it afterwards), and the privileged
// and reserved identities of [identityWarnings]. who names the request
// or the user at the start of each line.
func warnOfIdentity(w io.Writer, who, name string, groups []string) {
	if slices.Contains(groups, mastersGroup) {
		fmt.Fprintf(w, "warning: %s: group %s is a superuser that RBAC cannot restrict and a certificate cannot be revoked from; "+
			"unless this is a break-glass credential like super-admin.conf, use a group bound by RBAC such as %s\n", who, mastersGroup, clusterAdminsGroup)
	}
	others := slices.DeleteFunc(slices.Clone(groups), func(g string) bool { return g == mastersGroup })
	for _, line := range identityWarnings(name, others) {
		fmt.Fprintf(w, "warning: %s: %s\n", who, line)
	}
}
