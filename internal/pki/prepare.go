package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Unsigned is a certificate whose TBSCertificate (everything the
// signature covers) is final but which is not signed yet, so that it can
// be checked before the CA's key touches it: pre-issuance linting without
// a second signature under a throwaway key. [Unsigned.Sign] signs exactly
// these bytes.
type Unsigned struct {
	// Cert is the parsed certificate with an empty signature, for
	// inspection only: it verifies against nothing.
	Cert *x509.Certificate

	ca     *CA
	tbs    []byte
	opts   crypto.SignerOpts
	sigAlg []byte // the AlgorithmIdentifier inside tbs, repeated outside
}

// errTBSCaptured stops x509.CreateCertificate once it has built the
// TBSCertificate: the capturing signer returns it instead of a signature.
var errTBSCaptured = errors.New("pki: TBSCertificate captured")

// tbsCapture is a crypto.Signer with the CA's public key that records the
// message x509.CreateCertificate asks it to sign, and signs nothing.
type tbsCapture struct {
	pub  crypto.PublicKey
	tbs  []byte
	opts crypto.SignerOpts
}

func (c *tbsCapture) Public() crypto.PublicKey { return c.pub }

func (c *tbsCapture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	// Only reached if x509 stopped passing the whole message.
	return nil, errors.New("pki: TBSCertificate capture needs crypto.MessageSigner support")
}

func (c *tbsCapture) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.tbs = append([]byte(nil), msg...)
	c.opts = opts
	return nil, errTBSCaptured
}

// Prepare encodes tmpl (made by Template) as ca would sign it for pub,
// without signing: Go's own x509.CreateCertificate builds the
// TBSCertificate, so every field is encoded exactly as SignTemplate
// encodes it.
func (ca *CA) Prepare(pub crypto.PublicKey, tmpl *x509.Certificate) (*Unsigned, error) {
	capture := &tbsCapture{pub: ca.Key.Public()}
	_, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, capture)
	if !errors.Is(err, errTBSCaptured) {
		if err == nil {
			err = errors.New("no TBSCertificate was produced")
		}
		return nil, fmt.Errorf("prepare certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	sigAlg, err := tbsSignatureAlgorithm(capture.tbs)
	if err != nil {
		return nil, fmt.Errorf("prepare certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	u := &Unsigned{ca: ca, tbs: capture.tbs, opts: capture.opts, sigAlg: sigAlg}
	der, _ := u.assemble(nil)
	if u.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("prepare certificate for %q: parse: %w", tmpl.Subject.CommonName, err)
	}
	return u, nil
}

// Sign signs the prepared TBSCertificate with the CA's key and checks the
// signature against the CA certificate, as x509.CreateCertificate checks
// every signature it makes.
func (u *Unsigned) Sign() (*x509.Certificate, error) {
	cn := u.Cert.Subject.CommonName
	sig, err := crypto.SignMessage(u.ca.Key, rand.Reader, u.tbs, u.opts)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %q: %w", cn, err)
	}
	if err := u.ca.Cert.CheckSignature(u.Cert.SignatureAlgorithm, u.tbs, sig); err != nil {
		return nil, fmt.Errorf("sign certificate for %q: the CA key's signature does not verify: %w", cn, err)
	}
	// The parsed fields are those of the prepared certificate, which has
	// the same TBSCertificate: only the encoding and the signature are
	// new, so the certificate is not parsed a second time.
	der, tbs := u.assemble(sig)
	cert := *u.Cert
	cert.Raw = der
	cert.RawTBSCertificate = tbs
	cert.Signature = sig
	return &cert, nil
}

// assemble returns the DER of Certificate ::= SEQUENCE { tbsCertificate,
// signatureAlgorithm, signatureValue BIT STRING } with sig as the value,
// and the tbsCertificate inside it.
func (u *Unsigned) assemble(sig []byte) (der, tbs []byte) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(u.tbs)
		b.AddBytes(u.sigAlg)
		b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
			b.AddUint8(0) // no unused bits
			b.AddBytes(sig)
		})
	})
	der = b.BytesOrPanic()
	// The tbsCertificate follows the outer SEQUENCE's header: a tag byte
	// and a short or long DER length.
	hdr := 2
	if der[1]&0x80 != 0 {
		hdr += int(der[1] & 0x7f)
	}
	return der, der[hdr : hdr+len(u.tbs)]
}

// tbsSignatureAlgorithm returns the encoded AlgorithmIdentifier of a
// TBSCertificate (its third field, after the version and the serial),
// which RFC 5280 requires to equal the certificate's outer one.
func tbsSignatureAlgorithm(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body, alg cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() ||
		!body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!body.SkipASN1(cbasn1.INTEGER) ||
		!body.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed TBSCertificate")
	}
	return alg, nil
}
