package cluster

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
)

// sign issues a certificate from ca after pre-issuance linting, as cfssl's
// local signer does: the exact template is first signed with a throwaway
// key of the CA's algorithm under the CA's own name, that certificate runs
// through kubepki lint's certificate rules (with the plan's DNS domain and
// service CIDR, for the file at certPath), and any error-level finding
// blocks issuance. The real signature then covers the same template, and
// the signed TBSCertificate must equal the linted one byte for byte, so
// what was checked is what is issued.
func (r *run) sign(ca *pki.CA, pub crypto.PublicKey, opts pki.CertOptions, certPath string) (*x509.Certificate, error) {
	tmpl, err := ca.Template(pub, opts)
	if err != nil {
		return nil, err
	}
	shadow, err := r.shadowCA(ca)
	if err != nil {
		return nil, err
	}
	linted, err := shadow.SignTemplate(pub, tmpl)
	if err != nil {
		return nil, fmt.Errorf("pre-issuance lint of %s: %w", certPath, err)
	}
	var blocking []string
	for _, f := range inspect.LintCertificate(linted, inspect.Context{
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
	cert, err := ca.SignTemplate(pub, tmpl)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(cert.RawTBSCertificate, linted.RawTBSCertificate) {
		return nil, fmt.Errorf("issue %s: the signed certificate differs from the linted template", certPath)
	}
	return cert, nil
}

// shadowCA returns a CA with the same certificate fields as ca but a fresh
// key of the same algorithm, for signing templates that are only linted.
// One is made per CA per run (an RSA key takes a tenth of a second), and
// the run's parallel jobs share it.
func (r *run) shadowCA(ca *pki.CA) (*pki.CA, error) {
	r.shadowMu.Lock()
	defer r.shadowMu.Unlock()
	if s, ok := r.shadows[string(ca.Cert.Raw)]; ok {
		return s, nil
	}
	alg := pki.AlgorithmOf(ca.Cert.PublicKey)
	if alg == "" {
		return nil, fmt.Errorf("pre-issuance lint: CA %q has an unsupported key (%s)", ca.Cert.Subject.CommonName, pki.DescribeKey(ca.Cert.PublicKey))
	}
	key, err := pki.GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	cert := *ca.Cert
	cert.PublicKey = key.Public()
	s := &pki.CA{Cert: &cert, Key: key, Now: ca.Now}
	if r.shadows == nil {
		r.shadows = map[string]*pki.CA{}
	}
	r.shadows[string(ca.Cert.Raw)] = s
	return s, nil
}
