package cluster

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"slices"
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
	return r.signLinted(ca, pub, opts, certPath, nil)
}

// signRenewal is sign for the renewal of old. The renewal must keep every
// SAN of old, or it is refused. The apiserver's default names (lint rule
// L14) are judged against the plan's service CIDR and DNS domain only
// when the options gave them: without them the plan holds kubeadm's
// defaults, not the cluster's, and the renewal has exactly the names the
// certificate in service has, as kubeadm's renewal does.
func (r *run) signRenewal(ca *pki.CA, pub crypto.PublicKey, opts pki.CertOptions, certPath string, old *x509.Certificate) (*x509.Certificate, error) {
	return r.signLinted(ca, pub, opts, certPath, old)
}

// signLinted is sign, and signRenewal when old is set.
func (r *run) signLinted(ca *pki.CA, pub crypto.PublicKey, opts pki.CertOptions, certPath string, old *x509.Certificate) (*x509.Certificate, error) {
	tmpl, err := ca.Template(pub, opts)
	if err != nil {
		return nil, err
	}
	u, err := ca.Prepare(pub, tmpl)
	if err != nil {
		return nil, fmt.Errorf("pre-issuance lint of %s: %w", certPath, err)
	}
	refused := &LintError{File: certPath}
	for _, f := range inspect.LintCertificate(u.Cert, inspect.Context{
		Now:         r.now(),
		WarnWithin:  -1,
		Path:        certPath,
		DNSDomain:   r.plan.DNSDomain,
		ServiceCIDR: r.plan.ServiceCIDR,
	}) {
		if f.Severity != inspect.SeverityError {
			continue
		}
		if f.Rule == inspect.RuleAPIServerDefaultNames && old != nil {
			if !r.plan.networkGiven {
				continue
			}
			refused.Fix = "renew keeps the SANs of the certificate in service, which lacks these names too: if the cluster file's serviceCIDR or dnsDomain is wrong, correct it; otherwise move " +
				certPath + " and its key aside and rerun \"kubepki init\" with the cluster's settings, which makes them again with every name"
		}
		refused.Rules = append(refused.Rules, f.Rule)
		refused.Problems = append(refused.Problems, f.Rule+": "+f.Message)
	}
	if old != nil {
		if lost := lostSANs(old, u.Cert); len(lost) > 0 {
			refused.Rules = append(refused.Rules, RuleKeepSANs)
			refused.Problems = append(refused.Problems, "the renewal would drop the SANs "+strings.Join(lost, ", ")+" of the certificate in service")
		}
	}
	if len(refused.Problems) > 0 {
		return nil, refused
	}
	cert, err := u.Sign()
	if err != nil {
		return nil, err
	}
	r.noteCapped(ca, cert, opts.NotAfter, certPath)
	return cert, nil
}

// lostSANs lists the SANs of old that issued lacks, as "DNS:name",
// "IP:address", "URI:uri" and "email:address".
func lostSANs(old, issued *x509.Certificate) []string {
	var lost []string
	for _, d := range old.DNSNames {
		if !slices.Contains(issued.DNSNames, d) {
			lost = append(lost, "DNS:"+d)
		}
	}
	for _, ip := range old.IPAddresses {
		if !slices.ContainsFunc(issued.IPAddresses, func(x net.IP) bool { return x.Equal(ip) }) {
			lost = append(lost, "IP:"+ip.String())
		}
	}
	for _, u := range old.URIs {
		if !slices.ContainsFunc(issued.URIs, func(x *url.URL) bool { return x.String() == u.String() }) {
			lost = append(lost, "URI:"+u.String())
		}
	}
	for _, e := range old.EmailAddresses {
		if !slices.Contains(issued.EmailAddresses, e) {
			lost = append(lost, "email:"+e)
		}
	}
	return lost
}

// RuleKeepSANs is the rule of a [LintError] for a renewal that would drop
// a SAN of the certificate it replaces.
const RuleKeepSANs = "keep-sans"

// LintError is returned when pre-issuance linting refuses a certificate:
// nothing was signed.
type LintError struct {
	// File is the certificate's path.
	File string
	// Rules are the IDs of the rules broken: lint's (L01 …) or
	// [RuleKeepSANs].
	Rules []string
	// Problems say what is wrong, one per rule, as "L14: message".
	Problems []string
	// Fix says what to do; empty when the rules' own fixes apply
	// ("kubepki lint --list").
	Fix string
}

func (e *LintError) Error() string {
	msg := fmt.Sprintf("refusing to issue %s, which would break lint rules: %s", e.File, strings.Join(e.Problems, "; "))
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}
