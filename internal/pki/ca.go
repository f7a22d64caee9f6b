package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Validity defaults, valued as kubeadm's constants
// (cmd/kubeadm/app/constants: CertificateBackdate, CertificateValidityPeriod,
// CACertificateValidityPeriod).
const (
	// Backdate is how far NotBefore is set into the past, so that hosts
	// whose clocks lag a little accept a new certificate at once.
	Backdate = 5 * time.Minute
	// DefaultValidity is the lifetime of a leaf certificate: one year.
	DefaultValidity = 365 * 24 * time.Hour
	// DefaultCAValidity is the lifetime of a CA certificate: ten years.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
)

// CertOptions describes a certificate to sign. The subject, SANs and
// usages are used exactly as given; nothing is copied from a request's
// extensions.
type CertOptions struct {
	Subject pkix.Name
	SANs    SANs
	// KeyUsage defaults to DigitalSignature|KeyEncipherment for leaves
	// (kubeadm sets both even for ECDSA keys) and adds CertSign for CAs.
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore defaults to Now()-Backdate.
	NotBefore time.Time
	// NotAfter defaults to NotBefore+Backdate+Validity, that is Validity
	// from now. It is always capped at the CA's own NotAfter.
	NotAfter time.Time
	// Validity defaults to DefaultValidity.
	Validity time.Duration
	// IsCA makes an intermediate CA (CA:TRUE, keyCertSign).
	IsCA bool
}

// CA is a certificate authority: a CA certificate and its private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CAOptions describes a self-signed root CA.
type CAOptions struct {
	// CommonName is the subject CN and, as kubeadm does, the CA's one
	// DNS SAN. Required.
	CommonName string
	// Organization is optional; kubeadm's CAs have none.
	Organization []string
	// Key signs the CA; nil generates one with KeyAlgorithm.
	Key          crypto.Signer
	KeyAlgorithm KeyAlgorithm
	// Validity defaults to DefaultCAValidity.
	Validity time.Duration
	// NotBefore defaults to Now()-Backdate.
	NotBefore time.Time
	Now       func() time.Time
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

// NewSelfSignedCA creates a root CA in kubeadm's shape: subject CN (no O
// unless asked), DNS SAN equal to the CN, KeyUsage digitalSignature,
// keyEncipherment and keyCertSign (critical), CA:TRUE (critical) without a
// path length, a subject key ID, and a 128-bit random serial.
func NewSelfSignedCA(opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		return nil, fmt.Errorf("create CA: common name is required")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	key := opts.Key
	if key == nil {
		alg := opts.KeyAlgorithm
		if alg == "" {
			alg = DefaultKeyAlgorithm
		}
		var err error
		if key, err = GenerateKey(alg); err != nil {
			return nil, fmt.Errorf("create CA %s: %w", opts.CommonName, err)
		}
	}
	if err := CheckKeyStrength(key.Public()); err != nil {
		return nil, fmt.Errorf("create CA %s: %w", opts.CommonName, err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = now().Add(-Backdate)
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName, Organization: opts.Organization},
		DNSNames:              caDNSNames(opts.CommonName),
		NotBefore:             notBefore.UTC(),
		NotAfter:              notBefore.Add(Backdate + validity).UTC(),
		KeyUsage:              caKeyUsage(key.Public()),
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", opts.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", opts.CommonName, err)
	}
	return &CA{Cert: cert, Key: key, Now: opts.Now}, nil
}

// NewCA checks that cert is a CA certificate (CA:TRUE and keyCertSign) and
// that key is its private key, and returns the CA.
func NewCA(cert *x509.Certificate, key crypto.Signer) (*CA, error) {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("%w: %q has no CA:TRUE basic constraint", ErrNotCA, cert.Subject.CommonName)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %q lacks the keyCertSign key usage", ErrNotCA, cert.Subject.CommonName)
	}
	if err := KeyMatchesCertificate(key, cert); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA certificate and key from files and checks them as
// NewCA does. It refuses a key file that group or others may read, since a
// CA key is the cluster's most valuable secret. Errors name the file at
// fault and the fix.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cert, err := ReadCertificateFile(certFile)
	if err != nil {
		return nil, err
	}
	if err := CheckKeyFileMode(keyFile); err != nil {
		return nil, fmt.Errorf("refusing to use CA key: %w", err)
	}
	key, err := ReadPrivateKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := NewCA(cert, key)
	if err != nil {
		return nil, fmt.Errorf("CA %s and %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// Template builds the exact certificate template Sign would sign for pub,
// without signing it, so callers can lint it first.
func (ca *CA) Template(pub crypto.PublicKey, opts CertOptions) (*x509.Certificate, error) {
	now := ca.now()
	if now.Before(ca.Cert.NotBefore) || now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("%w: %q is valid from %s to %s", ErrCAExpired, ca.Cert.Subject.CommonName,
			ca.Cert.NotBefore.UTC().Format(time.RFC3339), ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := CheckKeyStrength(pub); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = now.Add(-Backdate)
	}
	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		v := opts.Validity
		if v == 0 {
			v = DefaultValidity
		}
		notAfter = notBefore.Add(Backdate + v)
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("certificate validity is empty: NotBefore %s is not before NotAfter %s", notBefore, notAfter)
	}
	ku := opts.KeyUsage
	if ku == 0 {
		ku = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               opts.Subject,
		DNSNames:              opts.SANs.DNSNames,
		IPAddresses:           opts.SANs.IPAddresses,
		URIs:                  opts.SANs.URIs,
		EmailAddresses:        opts.SANs.EmailAddresses,
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              ku,
		ExtKeyUsage:           opts.ExtKeyUsage,
		BasicConstraintsValid: true,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	if opts.IsCA {
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
			return nil, err
		}
	} else {
		tmpl.KeyUsage &^= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	return tmpl, nil
}

// Sign issues a certificate for pub as described by opts: a 128-bit random
// serial, NotBefore back-dated by Backdate, NotAfter capped at the CA's,
// CA:FALSE (critical) unless opts.IsCA, the CA's subject as issuer and its
// subject key ID as authority key ID. It refuses to sign when the CA is
// expired or not yet valid, or when pub is weak.
func (ca *CA) Sign(pub crypto.PublicKey, opts CertOptions) (*x509.Certificate, error) {
	tmpl, err := ca.Template(pub, opts)
	if err != nil {
		return nil, err
	}
	return ca.SignTemplate(pub, tmpl)
}

// SignTemplate signs a template made by Template, unchanged.
func (ca *CA) SignTemplate(pub crypto.PublicKey, tmpl *x509.Certificate) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	return cert, nil
}

// subjectKeyID computes RFC 5280 §4.2.1.2 method (1): the SHA-1 of the
// subject public key bit string, as Go and openssl do.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("subject key ID: unsupported key type %T", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key ID: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key ID: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// caDNSNames is the SAN of a new CA: its common name, as kubeadm's CAs
// carry it, when that is a DNS name (in any case: DNS names are
// case-insensitive). A CN such as "Example Corp CA" would be an invalid
// dNSName, which strict clients refuse to parse.
func caDNSNames(cn string) []string {
	if len(validation.IsDNS1123Subdomain(strings.ToLower(cn))) > 0 {
		return nil
	}
	return []string{cn}
}

// caKeyUsage is kubeadm's CA key usage (digital signature, key
// encipherment, certificate signing), without key encipherment for an
// Ed25519 key, which RFC 8410 §5 does not allow it.
func caKeyUsage(pub crypto.PublicKey) x509.KeyUsage {
	ku := x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	if _, ok := pub.(ed25519.PublicKey); !ok {
		ku |= x509.KeyUsageKeyEncipherment
	}
	return ku
}
