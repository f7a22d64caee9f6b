package pki

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
)

// maxPEMInput bounds what the parsers read: Go's PEM decoder has had
// super-linear behaviour on multi-megabyte input, and no real certificate
// bundle, key or request comes near this size.
const maxPEMInput = 4 << 20

// ParseCertificatesPEM parses every CERTIFICATE block in data, in order, or
// a single DER certificate. Non-certificate blocks are an error, since a
// bundle with a key in it is almost always a mistake worth reporting.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	if len(data) > maxPEMInput {
		return nil, ErrTooLarge
	}
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %q, want CERTIFICATE", ErrWrongPEMType, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	return nil, ErrNoPEM
}

// ParseCertificatePEM parses the first certificate of data (PEM or DER).
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// MarshalCertificatePEM encodes cert as a CERTIFICATE block.
func MarshalCertificatePEM(cert *x509.Certificate) []byte {
	return encodePEM("CERTIFICATE", cert.Raw)
}

// MarshalCertificatesPEM encodes a chain as consecutive CERTIFICATE blocks.
func MarshalCertificatesPEM(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, MarshalCertificatePEM(c)...)
	}
	return out
}

// ParseCSRPEM parses a certificate request: exactly one PEM block of type
// "CERTIFICATE REQUEST" with nothing but whitespace after it, or raw DER. The
// older "NEW CERTIFICATE REQUEST" header that openssl -newhdr writes is
// refused with ErrWrongPEMType, as the Kubernetes API refuses it. The
// signature is not checked here; certificates.CheckRequest checks it with
// the rest of the Certificates API's request policy.
func ParseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > maxPEMInput {
		return nil, ErrTooLarge
	}
	block, rest := pem.Decode(data)
	if block == nil {
		if csr, err := x509.ParseCertificateRequest(data); err == nil {
			return csr, nil
		}
		return nil, ErrNoPEM
	}
	if block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: %q, want CERTIFICATE REQUEST", ErrWrongPEMType, block.Type)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%w: more than one PEM block", ErrWrongPEMType)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	return csr, nil
}

// MarshalCSRPEM encodes a DER certificate request as a CERTIFICATE REQUEST
// block.
func MarshalCSRPEM(der []byte) []byte {
	return encodePEM("CERTIFICATE REQUEST", der)
}

// encodePEM returns what pem.EncodeToMemory returns for a block of typ
// with no headers, in one pass into a buffer of the final size (encoding/
// pem's line breaker costs more than the base64 itself) and with no copy
// of der besides the result, which matters for keys.
func encodePEM(typ string, der []byte) []byte {
	const chunk = 48 // bytes of input per 64-character line
	enc := base64.StdEncoding
	n := enc.EncodedLen(len(der))
	out := make([]byte, 0, 2*len("-----BEGIN -----\n")+2*len(typ)+n+n/64+1)
	out = append(out, "-----BEGIN "...)
	out = append(out, typ...)
	out = append(out, "-----\n"...)
	for rest := der; len(rest) > 0; {
		k := min(chunk, len(rest))
		m := enc.EncodedLen(k)
		out = out[:len(out)+m]
		enc.Encode(out[len(out)-m:], rest[:k])
		out = append(out, '\n')
		rest = rest[k:]
	}
	out = append(out, "-----END "...)
	out = append(out, typ...)
	out = append(out, "-----\n"...)
	return out
}
