package cluster

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
)

// sign issues a certificate from ca after pre-issuance linting: the exact
// TBSCertificate the CA would sign is built first (pki.CA.Prepare) and run,
// unsigned, through kubepki lint's certificate rules (with the plan's DNS
// domain and service CIDR, for the file at certPath); any error-level
// finding blocks issuance before the CA key signs anything. The CA then
// signs those very bytes, so what was checked is what is issued.
func (r *run) sign(ca *pki.CA, pub crypto.PublicKey, opts pki.CertOptions, certPath string) (*x509.Certificate, error) {
	tmpl, err := ca.Template(pub, opts)
	if err != nil {
		return nil, err
	}
	u, err := ca.Prepare(pub, tmpl)
	if err != nil {
		return nil, fmt.Errorf("pre-issuance lint of %s: %w", certPath, err)
	}
	var blocking []string
	for _, f := range inspect.LintCertificate(u.Cert, inspect.Context{
		Now:         r.now(),
		WarnWithin:  -1,
		Path:        certPath,
		DNSDomain:   r.plan.DNSDomain,
		ServiceCIDR: r.plan.ServiceCIDR,
	}) {
		if f.Severity == inspect.SeverityError {
			blocking = append(blocking, f.Rule+": "+f.Message)
		}
	}
	if len(blocking) > 0 {
		return nil, fmt.Errorf("refusing to issue %s, which would break lint rules: %s", certPath, strings.Join(blocking, "; "))
	}
	return u.Sign()
}
