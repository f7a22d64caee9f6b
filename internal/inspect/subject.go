package inspect

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/kubepki/kubepki/internal/certificates"
)

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// CheckRequestSubject reports what the Certificates API's request policy
// refuses in the names of req (security.md §4): more than one common name
// (Go keeps the last while people read the first), a subject attribute
// that is not a string, over [certificates.MaxSubjectValueLength] bytes or
// holding control characters or invalid UTF-8, more than
// [certificates.MaxSubjectAttributes] attributes, and a DNS name, email
// address or URI SAN holding control characters. It returns nil for clean
// names, or every problem joined with [errors.Join], each wrapping
// [certificates.ErrSubject] or [certificates.ErrSANs]. It does not check
// the signature, the key or the extensions. It is safe for concurrent use.
func CheckRequestSubject(req *x509.CertificateRequest) error {
	return errors.Join(requestNameProblems(req)...)
}

// requestNameProblems lists the problems [CheckRequestSubject] reports.
func requestNameProblems(req *x509.CertificateRequest) []error {
	var errs []error
	names := req.Subject.Names
	if len(names) > certificates.MaxSubjectAttributes {
		errs = append(errs, fmt.Errorf("%w: %d attributes, at most %d allowed", certificates.ErrSubject, len(names), certificates.MaxSubjectAttributes))
	}
	cns := 0
	for _, atv := range names {
		if atv.Type.Equal(oidCommonName) {
			cns++
		}
		v, ok := atv.Value.(string)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%w: attribute %s is not a string", certificates.ErrSubject, atv.Type))
		case len(v) > certificates.MaxSubjectValueLength:
			errs = append(errs, fmt.Errorf("%w: attribute %s is %d bytes long, at most %d allowed", certificates.ErrSubject, atv.Type, len(v), certificates.MaxSubjectValueLength))
		case hasControl(v):
			errs = append(errs, fmt.Errorf("%w: attribute %s (%s) contains control characters", certificates.ErrSubject, atv.Type, attributeName(atv.Type)))
		}
	}
	if cns > 1 {
		errs = append(errs, fmt.Errorf("%w: %d common names, at most one allowed", certificates.ErrSubject, cns))
	}
	sans := func(kind string, values []string) {
		for _, v := range values {
			if hasControl(v) {
				errs = append(errs, fmt.Errorf("%w: %s name contains control characters", certificates.ErrSANs, kind))
				return
			}
		}
	}
	sans("DNS", req.DNSNames)
	sans("email", req.EmailAddresses)
	uris := make([]string, len(req.URIs))
	for i, u := range req.URIs {
		uris[i] = u.String()
	}
	sans("URI", uris)
	return errs
}

// attributeName is the short name of a subject attribute type (CN, O,
// OU, …), or its OID.
func attributeName(oid asn1.ObjectIdentifier) string {
	for _, a := range []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{
		{oidCommonName, "CN"},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "O"},
		{asn1.ObjectIdentifier{2, 5, 4, 11}, "OU"},
		{asn1.ObjectIdentifier{2, 5, 4, 6}, "C"},
		{asn1.ObjectIdentifier{2, 5, 4, 7}, "L"},
		{asn1.ObjectIdentifier{2, 5, 4, 8}, "ST"},
	} {
		if oid.Equal(a.oid) {
			return a.name
		}
	}
	return oid.String()
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
