package inspect

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// MaxInputSize is the largest input, in bytes, that [Parse] accepts. Real
// certificate bundles and kubeconfig files are far smaller; the cap keeps
// the PEM and YAML decoders away from pathological input (security.md §4).
const MaxInputSize = 4 << 20

// Kind names the type of an [Object] found in an input.
type Kind string

// The kinds of object [Parse] recognises.
const (
	KindCertificate Kind = "certificate"
	KindCSR         Kind = "certificateRequest"
	KindPrivateKey  Kind = "privateKey"
	KindPublicKey   Kind = "publicKey"
	KindKubeconfig  Kind = "kubeconfig"
	// KindCSRObject is a certificates.k8s.io/v1 CertificateSigningRequest
	// object in YAML or JSON, as written for kubectl apply.
	KindCSRObject Kind = "certificateSigningRequestObject"
)

// Object is one certificate, certificate request, key or kubeconfig found
// in an input. Exactly one of Certificate, CSR, PublicKey (for keys of
// both kinds) and Kubeconfig is set, according to Kind, except for an
// encrypted private key, whose public key cannot be known.
//
// A private key is parsed only to learn its public half: Object never holds
// the private key itself.
type Object struct {
	Kind Kind
	// PEMType is the PEM block type ("CERTIFICATE", "EC PRIVATE KEY", …),
	// or "" when the object was DER or a kubeconfig.
	PEMType string
	// Format names the encoding: "PEM" or "DER" for certificates and
	// requests, "PKCS#1", "SEC1", "PKCS#8" or "PKIX" for keys, "YAML" for
	// kubeconfig files.
	Format      string
	Certificate *x509.Certificate
	CSR         *x509.CertificateRequest
	PublicKey   crypto.PublicKey
	// Encrypted reports whether a private key is password-protected; its
	// PublicKey is then nil.
	Encrypted  bool
	Kubeconfig *clientcmdapi.Config
	CSRObject  *certv1.CertificateSigningRequest
}

// Parse finds every object in data: a PEM stream of any number of
// certificates, certificate requests and keys (unknown block types such as
// "EC PARAMETERS" are skipped), a DER certificate (or several concatenated),
// request, PKCS#8, PKCS#1 or SEC1 private key or PKIX public key, a
// CertificateSigningRequest object or a kubeconfig file in YAML or JSON.
// White space around text input is ignored; DER input is parsed as is,
// byte for byte. It returns [ErrTooLarge] for input over
// [MaxInputSize], [ErrEmpty] for blank input and [ErrUnrecognized] when
// nothing is found; a PEM block that is present but does not parse is an
// error naming the block, and one that is truncated or does not decode
// wraps [ErrMalformedPEM], even when other blocks are good.
func Parse(data []byte) ([]Object, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxInputSize)
	}
	// Only text is trimmed: DER is binary, and its last byte, part of a
	// signature or key, may well be 0x09–0x0d or 0x20.
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, ErrEmpty
	}
	hasPEM := bytes.Contains(data, []byte("-----BEGIN "))
	switch {
	case trimmed[0] == 0x30 && !hasPEM: // ASN.1 SEQUENCE: DER, parsed as is
		if objs, ok := parseDER(data); ok {
			return objs, nil
		}
		return nil, fmt.Errorf("%w: binary data is not a DER certificate, request or key", ErrUnrecognized)
	case trimmed[0] != '-' && isCSRObject(data):
		return parseCSRObject(data)
	case hasPEM:
		return parsePEM(data)
	}
	return parseKubeconfig(data)
}

func parsePEM(data []byte) ([]Object, error) {
	var objs []Object
	var skipped []string
	rest := data
	for n := 1; ; n++ {
		before := rest
		var block *pem.Block
		block, rest = pem.Decode(rest)
		// pem.Decode passes over a block it cannot decode, truncated or
		// not, to the next good one, or returns nil: a BEGIN line in the
		// bytes it consumed other than the good block's own is a broken
		// block.
		consumed := before
		if block != nil {
			consumed = before[:len(before)-len(rest)]
		}
		if i := brokenPEMBlock(consumed, block != nil); i >= 0 {
			return nil, describeBrokenPEM(consumed[i:], n)
		}
		if block == nil {
			break
		}
		obj, ok, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if ok {
			objs = append(objs, obj)
		} else {
			skipped = append(skipped, block.Type)
		}
	}
	if len(objs) == 0 && len(skipped) > 0 {
		return nil, fmt.Errorf("%w: no certificate, request or key PEM block, only %s", ErrUnrecognized, strings.Join(skipped, ", "))
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w: no certificate, request or key PEM block", ErrUnrecognized)
	}
	return objs, nil
}

// pemBegin starts a PEM BEGIN line; pem.Decode takes it only at the start
// of the input or of a line.
var pemBegin = []byte("-----BEGIN ")

// brokenPEMBlock returns the offset of the first BEGIN line in b that does
// not start a decoded block, or -1. decoded says whether b ends with a
// block pem.Decode decoded, whose BEGIN line is the last in b.
func brokenPEMBlock(b []byte, decoded bool) int {
	var begins []int
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], pemBegin)
		if j < 0 {
			break
		}
		if at := i + j; at == 0 || b[at-1] == '\n' {
			begins = append(begins, at)
		}
		i += j + len(pemBegin)
	}
	if decoded {
		begins = begins[:max(len(begins)-1, 0)]
	}
	if len(begins) == 0 {
		return -1
	}
	return begins[0]
}

// describeBrokenPEM returns the [ErrMalformedPEM] error for the block
// whose BEGIN line starts b, the nth of its input: truncated when no END
// line of its type follows, malformed otherwise.
func describeBrokenPEM(b []byte, n int) error {
	line, _, _ := bytes.Cut(b[len(pemBegin):], []byte("\n"))
	typ, _, _ := bytes.Cut(bytes.TrimRight(line, "\r"), []byte("-----"))
	if !bytes.Contains(b, []byte("-----END "+string(typ)+"-----")) {
		return fmt.Errorf("%w: PEM block %d (%s) has a BEGIN line and no END line: the file is truncated", ErrMalformedPEM, n, typ)
	}
	return fmt.Errorf("%w: PEM block %d (%s) does not decode: its body is not base64 or its headers are broken", ErrMalformedPEM, n, typ)
}

// parsePEMBlock returns the object in block, or ok false for block types
// that carry none (EC PARAMETERS, unknown types).
func parsePEMBlock(block *pem.Block) (obj Object, ok bool, err error) {
	obj = Object{PEMType: block.Type, Format: "PEM"}
	switch block.Type {
	case "CERTIFICATE", "X509 CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return obj, false, err
		}
		obj.Kind, obj.Certificate = KindCertificate, cert
	case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return obj, false, err
		}
		obj.Kind, obj.CSR = KindCSR, csr
	case "ENCRYPTED PRIVATE KEY":
		obj.Kind, obj.Format, obj.Encrypted = KindPrivateKey, "PKCS#8", true
	case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY":
		obj.Kind = KindPrivateKey
		if _, encrypted := block.Headers["DEK-Info"]; encrypted {
			obj.Encrypted = true
			obj.Format = map[string]string{"RSA PRIVATE KEY": "PKCS#1", "EC PRIVATE KEY": "SEC1", "PRIVATE KEY": "PKCS#8"}[block.Type]
			return obj, true, nil
		}
		pub, format, err := parsePrivateKeyDER(block.Type, block.Bytes)
		if err != nil {
			return obj, false, err
		}
		obj.PublicKey, obj.Format = pub, format
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return obj, false, err
		}
		obj.Kind, obj.PublicKey, obj.Format = KindPublicKey, pub, "PKIX"
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return obj, false, err
		}
		obj.Kind, obj.PublicKey, obj.Format = KindPublicKey, pub, "PKCS#1"
	default:
		return obj, false, nil
	}
	return obj, true, nil
}

// parsePrivateKeyDER parses a private key and returns its public half. The
// private key itself goes out of scope here.
func parsePrivateKeyDER(pemType string, der []byte) (crypto.PublicKey, string, error) {
	switch pemType {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, "", err
		}
		return key.Public(), "PKCS#1", nil
	case "EC PRIVATE KEY":
		key, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, "", err
		}
		return key.Public(), "SEC1", nil
	default:
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, "", err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, "", fmt.Errorf("unsupported PKCS#8 key type %T", key)
		}
		return signer.Public(), "PKCS#8", nil
	}
}

// parseDER tries each DER form in turn.
func parseDER(der []byte) ([]Object, bool) {
	if certs, err := x509.ParseCertificates(der); err == nil && len(certs) > 0 {
		objs := make([]Object, len(certs))
		for i, c := range certs {
			objs[i] = Object{Kind: KindCertificate, Format: "DER", Certificate: c}
		}
		return objs, true
	}
	if csr, err := x509.ParseCertificateRequest(der); err == nil {
		return []Object{{Kind: KindCSR, Format: "DER", CSR: csr}}, true
	}
	for _, t := range []string{"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"} {
		if pub, format, err := parsePrivateKeyDER(t, der); err == nil {
			return []Object{{Kind: KindPrivateKey, Format: format, PublicKey: pub}}, true
		}
	}
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		return []Object{{Kind: KindPublicKey, Format: "PKIX", PublicKey: pub}}, true
	}
	return nil, false
}

// isCSRObject reports whether data is YAML or JSON of kind
// CertificateSigningRequest.
func isCSRObject(data []byte) bool {
	var tm metav1.TypeMeta
	return yaml.Unmarshal(data, &tm) == nil && tm.Kind == "CertificateSigningRequest"
}

// parseCSRObject decodes a CertificateSigningRequest object. A
// spec.request that is not base64 (raw PEM, base64 broken by spaces) is an
// error wrapping [ErrCSRObjectRequest].
func parseCSRObject(data []byte) ([]Object, error) {
	var csr certv1.CertificateSigningRequest
	if err := yaml.Unmarshal(data, &csr); err != nil {
		var raw struct {
			Spec struct {
				Request any `json:"request"`
			} `json:"spec"`
		}
		if yaml.Unmarshal(data, &raw) == nil && raw.Spec.Request != nil {
			if r, ok := raw.Spec.Request.(string); !ok || !isBase64(r) {
				return nil, fmt.Errorf("%w: %v", ErrCSRObjectRequest, err)
			}
		}
		return nil, fmt.Errorf("decode CertificateSigningRequest: %w", err)
	}
	return []Object{{Kind: KindCSRObject, Format: "YAML", CSRObject: &csr}}, nil
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func parseKubeconfig(data []byte) ([]Object, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%w: not PEM, DER or a kubeconfig file (%v)", ErrUnrecognized, err)
	}
	if len(cfg.Clusters) == 0 && len(cfg.AuthInfos) == 0 && len(cfg.Contexts) == 0 {
		return nil, fmt.Errorf("%w: YAML without clusters, users or contexts", ErrUnrecognized)
	}
	return []Object{{Kind: KindKubeconfig, Format: "YAML", Kubeconfig: cfg}}, nil
}

// publicKeyOf returns the public key of a certificate or request object.
func (o *Object) publicKeyOf() crypto.PublicKey {
	switch {
	case o.Certificate != nil:
		return o.Certificate.PublicKey
	case o.CSR != nil:
		return o.CSR.PublicKey
	}
	return o.PublicKey
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(b)
	}
	return false
}
