package certificates

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Size and count caps applied to spec.request before and after parsing
// (docs/security: caps before parsing). They are far above what kubelets,
// kubeadm and openssl produce.
const (
	// MaxRequestBytes caps spec.request; a 4096-bit RSA request with a few
	// dozen SANs is under 4 KiB.
	MaxRequestBytes = 64 << 10
	// MaxSANs caps the number of subject alternative names of all kinds.
	MaxSANs = 256
	// MaxSANLength caps the length of one DNS name, email address or URI.
	MaxSANLength = 1024
	// MaxSubjectValueLength caps one subject attribute value. A node name
	// (a DNS subdomain, at most 253) plus "system:node:" fits.
	MaxSubjectValueLength = 512
	// MaxSubjectAttributes caps the number of subject attributes (CN, O,
	// OU, ...) together.
	MaxSubjectAttributes = 64
)

// pemTypeCSR is the only PEM block type Kubernetes accepts in spec.request.
const pemTypeCSR = "CERTIFICATE REQUEST"

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// ParseRequest parses and checks spec.request of a CSR: data must be exactly
// one PEM block of type "CERTIFICATE REQUEST" (surrounding whitespace only,
// no headers, no second block), at most MaxRequestBytes long, holding a
// PKCS#10 request whose self-signature verifies and which passes the key,
// signature, subject, SAN and extension policy of docs/security (see
// [CheckPublicKey] and [CheckSignatureAlgorithm]).
//
// Kubernetes itself only looks at the first PEM block; refusing everything
// else avoids a differential between what humans, openssl and we read.
// Errors wrap one of ErrRequestTooLarge, ErrRequestPEM, ErrRequestParse,
// ErrRequestSignature, ErrSignatureAlgorithm, ErrPublicKey, ErrSubject,
// ErrSANs or ErrExtensions.
func ParseRequest(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrRequestTooLarge, len(data), MaxRequestBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, fmt.Errorf("%w: no PEM block found at the start", ErrRequestPEM)
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrRequestPEM)
	}
	if block.Type != pemTypeCSR {
		return nil, fmt.Errorf("%w: found %q", ErrRequestPEM, block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM headers are not allowed", ErrRequestPEM)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data follows the PEM block", ErrRequestPEM)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequestParse, err)
	}
	if err := CheckRequest(req); err != nil {
		return nil, err
	}
	return req, nil
}

// CheckRequest applies ParseRequest's policy to a request parsed by other
// means (a PEM or DER file given to "kubepki sign"): signature algorithm,
// public key, self-signature, subject, SANs and extensions. Errors wrap
// one of ErrSignatureAlgorithm, ErrPublicKey, ErrRequestSignature,
// ErrSubject, ErrSANs or ErrExtensions.
func CheckRequest(req *x509.CertificateRequest) error {
	if err := CheckSignatureAlgorithm(req.SignatureAlgorithm); err != nil {
		return err
	}
	if err := CheckPublicKey(req.PublicKey); err != nil {
		return err
	}
	if err := verified.checkSignature(req); err != nil {
		return fmt.Errorf("%w: %v", ErrRequestSignature, err)
	}
	if errs := NameProblems(req); len(errs) > 0 {
		return errs[0]
	}
	return checkExtensions(req)
}

// NameProblems lists, in order, everything the request policy refuses in
// the names of req (docs/security §4): more than MaxSubjectAttributes
// subject attributes; an attribute that is not a string, is longer than
// MaxSubjectValueLength or holds control characters or invalid UTF-8;
// more than one CN (Go keeps the last one while people read the first);
// more than MaxSANs SANs; a DNS name, email address or URI longer than
// MaxSANLength or holding control characters. Each wraps ErrSubject or
// ErrSANs. ParseRequest and CheckRequest refuse a request with the first;
// lint reports them all.
func NameProblems(req *x509.CertificateRequest) []error {
	var errs []error
	names := req.Subject.Names
	if len(names) > MaxSubjectAttributes {
		errs = append(errs, fmt.Errorf("%w: %d attributes, at most %d allowed", ErrSubject, len(names), MaxSubjectAttributes))
	}
	cns := 0
	for _, atv := range names {
		if atv.Type.Equal(oidCommonName) {
			cns++
		}
		s, ok := atv.Value.(string)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%w: attribute %s is not a string", ErrSubject, attributeName(atv.Type)))
		case len(s) > MaxSubjectValueLength:
			errs = append(errs, fmt.Errorf("%w: attribute %s is %d bytes long, at most %d allowed", ErrSubject, attributeName(atv.Type), len(s), MaxSubjectValueLength))
		case hasControl(s):
			errs = append(errs, fmt.Errorf("%w: attribute %s contains control characters", ErrSubject, attributeName(atv.Type)))
		}
	}
	if cns > 1 {
		errs = append(errs, fmt.Errorf("%w: %d common names, at most one allowed", ErrSubject, cns))
	}
	if n := len(req.DNSNames) + len(req.IPAddresses) + len(req.EmailAddresses) + len(req.URIs); n > MaxSANs {
		errs = append(errs, fmt.Errorf("%w: %d names, at most %d allowed", ErrSANs, n, MaxSANs))
	}
	check := func(kind, s string) bool {
		if len(s) > MaxSANLength {
			errs = append(errs, fmt.Errorf("%w: %s name is %d bytes long, at most %d allowed", ErrSANs, kind, len(s), MaxSANLength))
			return false
		}
		if hasControl(s) {
			errs = append(errs, fmt.Errorf("%w: %s name contains control characters", ErrSANs, kind))
			return false
		}
		return true
	}
	// One problem per kind of name is enough to act on.
	for _, s := range req.DNSNames {
		if !check("DNS", s) {
			break
		}
	}
	for _, s := range req.EmailAddresses {
		if !check("email", s) {
			break
		}
	}
	for _, u := range req.URIs {
		if !check("URI", u.String()) {
			break
		}
	}
	return errs
}

// attributeNames are the short names of common subject attribute types.
var attributeNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
}

// attributeName names a subject attribute type: "CN (2.5.4.3)", or its
// OID alone.
func attributeName(oid asn1.ObjectIdentifier) string {
	if n, ok := attributeNames[oid.String()]; ok {
		return n + " (" + oid.String() + ")"
	}
	return oid.String()
}

// checkExtensions refuses duplicate requested extensions. Go's parser
// already does; the check keeps the rule independent of the Go release.
func checkExtensions(req *x509.CertificateRequest) error {
	seen := make(map[string]bool, len(req.Extensions))
	for _, ext := range req.Extensions {
		id := ext.Id.String()
		if seen[id] {
			return fmt.Errorf("%w: extension %s appears twice", ErrExtensions, id)
		}
		seen[id] = true
	}
	return nil
}

// hasControl reports whether s holds invalid UTF-8 or a control character
// (C0, DEL or C1).
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
