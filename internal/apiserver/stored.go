package apiserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/storage"
)

// How a CSR is stored. The value is the CSR's protobuf message, as
// k8s.io/api marshals it, without type meta and resourceVersion (which is
// the store's revision). spec.request and status.certificate are PEM:
// base64 text a third larger than the DER it carries, and half of a
// pending CSR's value, four fifths of an issued one's. So when a field is
// plain PEM
// the value is kept in the compact form:
//
//	0x00, storedVersion, flags, protobuf message
//
// where flag storedRequestDER says spec.request holds the DER of its
// CERTIFICATE REQUEST blocks, one after the other, and
// storedCertificateDER that status.certificate holds the DER of its
// CERTIFICATE blocks. A protobuf message never starts with 0x00 (there is
// no field number 0), so the first byte tells the two forms apart and
// values stored before the compact form read as they always did.
//
// A field is converted only when PEM-encoding its DER gives back exactly
// the bytes the client sent (no headers, no CRLF, no text around the
// blocks, Go's and openssl's 64-column lines); anything else stays as it
// came. Reading a value therefore always returns the bytes written.
const (
	storedVersion        = 1
	storedRequestDER     = 1 << 0
	storedCertificateDER = 1 << 1
	storedHeaderLen      = 3
)

// pemKind is a PEM block type's two marker lines, as pem.Encode writes
// them.
type pemKind struct{ begin, end []byte }

func newPEMKind(typ string) pemKind {
	return pemKind{begin: []byte("-----BEGIN " + typ + "-----\n"), end: []byte("-----END " + typ + "-----\n")}
}

var (
	pemRequest     = newPEMKind("CERTIFICATE REQUEST")
	pemCertificate = newPEMKind("CERTIFICATE")
)

// errStoredForm reports a compact value this version cannot read.
var errStoredForm = errors.New("unknown stored form")

// encodeStored serializes a CSR for the store.
func encodeStored(csr *certv1.CertificateSigningRequest) ([]byte, error) {
	c := *csr // Spec and Status are values: changing c's leaves csr alone
	c.TypeMeta = metav1.TypeMeta{}
	c.ResourceVersion = ""
	var flags byte
	if der, ok := pemToDER(c.Spec.Request, pemRequest); ok {
		c.Spec.Request, flags = der, flags|storedRequestDER
	}
	if der, ok := pemToDER(c.Status.Certificate, pemCertificate); ok {
		c.Status.Certificate, flags = der, flags|storedCertificateDER
	}
	if flags == 0 {
		return c.Marshal()
	}
	buf := make([]byte, storedHeaderLen+c.Size())
	buf[0], buf[1], buf[2] = 0, storedVersion, flags
	n, err := c.MarshalTo(buf[storedHeaderLen:])
	if err != nil {
		return nil, err
	}
	return buf[:storedHeaderLen+n], nil
}

// decodeStored reads a stored CSR and sets its resourceVersion from kv.
func decodeStored(kv storage.KV) (*certv1.CertificateSigningRequest, error) {
	csr, err := decodeStoredValue(kv.Value)
	if err != nil {
		return nil, fmt.Errorf("decode stored object %s at revision %d: %w", kv.Key, kv.Revision, err)
	}
	csr.ResourceVersion = strconv.FormatInt(kv.Revision, 10)
	return csr, nil
}

// decodeStoredValue parses a stored value, in either form; a panic in the
// generated decoder (corrupt data) becomes an error.
func decodeStoredValue(data []byte) (csr *certv1.CertificateSigningRequest, err error) {
	defer func() {
		if p := recover(); p != nil {
			csr, err = nil, fmt.Errorf("corrupt value: %v", p)
		}
	}()
	var flags byte
	if len(data) > 0 && data[0] == 0 {
		if len(data) < storedHeaderLen || data[1] != storedVersion {
			return nil, fmt.Errorf("%w (header % x)", errStoredForm, data[:min(len(data), storedHeaderLen)])
		}
		if flags = data[2]; flags&^(storedRequestDER|storedCertificateDER) != 0 {
			return nil, fmt.Errorf("%w (flags %#x)", errStoredForm, flags)
		}
		data = data[storedHeaderLen:]
	}
	csr = &certv1.CertificateSigningRequest{}
	if err := csr.Unmarshal(data); err != nil {
		return nil, err
	}
	if flags&storedRequestDER != 0 {
		if csr.Spec.Request, err = derToPEM(csr.Spec.Request, pemRequest); err != nil {
			return nil, fmt.Errorf("corrupt spec.request: %w", err)
		}
	}
	if flags&storedCertificateDER != 0 {
		if csr.Status.Certificate, err = derToPEM(csr.Status.Certificate, pemCertificate); err != nil {
			return nil, fmt.Errorf("corrupt status.certificate: %w", err)
		}
	}
	return csr, nil
}

// pemToDER returns the DER of the PEM blocks of kind k that data is made
// of, concatenated, when derToPEM gives data back byte for byte: each
// block exactly as pem.Encode writes it (no headers, 64-column lines of
// canonical base64, "\n" line ends, nothing between or around the blocks)
// and holding exactly one DER element.
func pemToDER(data []byte, k pemKind) ([]byte, bool) {
	if len(data) == 0 {
		return nil, false
	}
	der := make([]byte, 0, len(data)*3/4)
	for rest := data; len(rest) > 0; {
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, k.begin); !ok {
			return nil, false
		}
		start := len(der)
		for {
			nl := bytes.IndexByte(rest, '\n')
			if nl < 0 || nl > pemLineLength {
				return nil, false
			}
			line := rest[:nl]
			if bytes.HasPrefix(line, []byte("-----")) {
				break
			}
			n := len(der)
			der = append(der, make([]byte, base64.StdEncoding.DecodedLen(len(line)))...)
			m, err := strictBase64.Decode(der[n:], line)
			if err != nil {
				return nil, false
			}
			der, rest = der[:n+m], rest[nl+1:]
			if nl < pemLineLength {
				break // only the last line is short
			}
		}
		if rest, ok = bytes.CutPrefix(rest, k.end); !ok {
			return nil, false
		}
		block := cryptobyte.String(der[start:])
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !block.ReadAnyASN1Element(&elem, &tag) || !block.Empty() {
			return nil, false
		}
	}
	return der, true
}

// pemLineLength is the base64 line length of pem.Encode (and openssl).
const pemLineLength = 64

// strictBase64 refuses non-zero padding bits, so that decoding then
// encoding gives the same text.
var strictBase64 = base64.StdEncoding.Strict()

// derToPEM encodes each DER element of der as a PEM block of kind k,
// byte for byte as pem.Encode does.
func derToPEM(der []byte, k pemKind) ([]byte, error) {
	var elems []cryptobyte.String
	size := 0
	for s := cryptobyte.String(der); !s.Empty(); {
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1Element(&elem, &tag) {
			return nil, errors.New("not a sequence of DER elements")
		}
		n := base64.StdEncoding.EncodedLen(len(elem))
		size += len(k.begin) + n + (n+pemLineLength-1)/pemLineLength + len(k.end)
		elems = append(elems, elem)
	}
	out := make([]byte, 0, size)
	for _, elem := range elems {
		out = append(out, k.begin...)
		for len(elem) > 0 {
			chunk := elem[:min(len(elem), pemLineLength/4*3)]
			out = base64.StdEncoding.AppendEncode(out, chunk)
			out = append(out, '\n')
			elem = elem[len(chunk):]
		}
		out = append(out, k.end...)
	}
	return out, nil
}
