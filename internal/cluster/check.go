package cluster

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
)

// pairState is what a check found on disk.
type pairState int

const (
	stateAbsent pairState = iota // neither file exists
	stateValid                   // files exist and match the plan
)

// exists reports whether path exists (as anything).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// want is what a leaf certificate must hold to match the plan.
type want struct {
	commonName   string
	organization []string
	extKeyUsage  []x509.ExtKeyUsage
	dnsNames     []string
	ipAddresses  []net.IP
}

func wantOf(c CertSpec) want {
	return want{c.CommonName, c.Organization, c.ExtKeyUsage, c.DNSNames, c.IPAddresses}
}

func wantOfKubeconfig(k KubeconfigSpec) want {
	return want{commonName: k.CommonName, organization: k.Organization, extKeyUsage: ekuClient}
}

// problem returns what is wrong with cert against w, the signing CA and
// the time now, or "" when nothing is.
func (w want) problem(cert *x509.Certificate, caCert *x509.Certificate, now time.Time) string {
	if now.After(cert.NotAfter) {
		return fmt.Sprintf("expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Sprintf("is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil || !bytes.Equal(cert.RawIssuer, caCert.RawSubject) {
		return fmt.Sprintf("is not signed by the CA %q", caCert.Subject.CommonName)
	}
	if cert.Subject.CommonName != w.commonName {
		return fmt.Sprintf("has CN %q, want %q", cert.Subject.CommonName, w.commonName)
	}
	if !sameStrings(cert.Subject.Organization, w.organization) {
		return fmt.Sprintf("has O %q, want %q", cert.Subject.Organization, w.organization)
	}
	if !sameEKUs(cert.ExtKeyUsage, w.extKeyUsage) {
		return fmt.Sprintf("has extended key usages %s, want %s", ekuNames(cert.ExtKeyUsage), ekuNames(w.extKeyUsage))
	}
	for _, d := range w.dnsNames {
		if !slices.Contains(cert.DNSNames, d) {
			return fmt.Sprintf("lacks the DNS SAN %q", d)
		}
	}
	for _, ip := range w.ipAddresses {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return fmt.Sprintf("lacks the IP SAN %s", ip)
		}
	}
	return ""
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameEKUs(a, b []x509.ExtKeyUsage) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ekuNames formats extended key usages as "serverAuth,clientAuth".
func ekuNames(ekus []x509.ExtKeyUsage) string {
	var names []string
	for _, u := range ekus {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			names = append(names, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			names = append(names, "clientAuth")
		case x509.ExtKeyUsageAny:
			names = append(names, "any")
		default:
			names = append(names, fmt.Sprintf("eku(%d)", u))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// checkPair looks at certPath and keyPath. Both absent is stateAbsent.
// Both present, parsing, belonging together and matching w is stateValid
// with the parsed pair. Anything else is a *MismatchError; when the
// certificate has expired, it tells to renew it by renewName ("certs renew"
// NAME), unless renewName is empty.
func checkPair(certPath, keyPath string, w want, caCert *x509.Certificate, now time.Time, renewName string) (pairState, *x509.Certificate, crypto.Signer, error) {
	certExists, keyExists := exists(certPath), exists(keyPath)
	switch {
	case !certExists && !keyExists:
		return stateAbsent, nil, nil, nil
	case !keyExists:
		return 0, nil, nil, &MismatchError{File: keyPath, Problem: "is missing while " + certPath + " exists"}
	case !certExists:
		return 0, nil, nil, &MismatchError{File: certPath, Problem: "is missing while " + keyPath + " exists"}
	}
	cert, err := pki.ReadCertificateFile(certPath)
	if err != nil {
		return 0, nil, nil, &MismatchError{File: certPath, Problem: "cannot be read: " + err.Error()}
	}
	key, err := pki.ReadPrivateKeyFile(keyPath)
	if err != nil {
		return 0, nil, nil, &MismatchError{File: keyPath, Problem: "cannot be read: " + err.Error()}
	}
	if err := pki.KeyMatchesCertificate(key, cert); err != nil {
		return 0, nil, nil, &MismatchError{File: keyPath, Problem: "does not match " + certPath}
	}
	if p := w.problem(cert, caCert, now); p != "" {
		return 0, nil, nil, &MismatchError{File: certPath, Problem: p, Fix: expiredFix(cert, now, renewName)}
	}
	return stateValid, cert, key, nil
}

// expiredFix is the advice for a certificate that expired, which "certs
// renew NAME" re-issues from the same CA with the same subject and key,
// or "" (the generic advice) when cert has not expired or renew has no
// name for it.
func expiredFix(cert *x509.Certificate, now time.Time, name string) string {
	if name == "" || !now.After(cert.NotAfter) {
		return ""
	}
	return fmt.Sprintf("renew it with \"kubepki certs renew %s\", which keeps its key, or rerun with --force to replace it", name)
}

// checkKeyMode refuses existing key files that others may read: they are
// not replaced by --force, since their content may be right, but reported
// with the chmod that fixes them.
func checkKeyMode(path string) error {
	err := pki.CheckKeyFileMode(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
