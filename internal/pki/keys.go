package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// KeyAlgorithm names a key type and size.
type KeyAlgorithm string

// The key algorithms kubepki generates. ECDSA P-256 is the default: it is
// fast, small and accepted by every Kubernetes component.
const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	ECDSAP384 KeyAlgorithm = "ecdsa-p384"
	RSA2048   KeyAlgorithm = "rsa-2048"
	RSA3072   KeyAlgorithm = "rsa-3072"
	RSA4096   KeyAlgorithm = "rsa-4096"
	Ed25519   KeyAlgorithm = "ed25519"

	DefaultKeyAlgorithm = ECDSAP256
)

// KeyAlgorithms lists every algorithm GenerateKey accepts, default first.
func KeyAlgorithms() []KeyAlgorithm {
	return []KeyAlgorithm{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096, Ed25519}
}

// ParseKeyAlgorithm parses an algorithm name, case-insensitively. It
// accepts kubepki's names ("ecdsa-p256") and kubeadm's encryptionAlgorithm
// values ("ECDSA-P256", "RSA-2048"). The empty string is the default.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	if s == "" {
		return DefaultKeyAlgorithm, nil
	}
	n := KeyAlgorithm(strings.ToLower(s))
	for _, a := range KeyAlgorithms() {
		if n == a {
			return a, nil
		}
	}
	names := make([]string, 0, 6)
	for _, a := range KeyAlgorithms() {
		names = append(names, string(a))
	}
	return "", fmt.Errorf("unknown key algorithm %q: use one of %s", s, strings.Join(names, ", "))
}

// GenerateKey returns a fresh private key of the given algorithm, from
// crypto/rand.
func GenerateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("generate key: unknown algorithm %q", alg)
}

// AlgorithmOf reports the KeyAlgorithm of a public key, or "" if it is not
// one kubepki generates.
func AlgorithmOf(pub crypto.PublicKey) KeyAlgorithm {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256
		case elliptic.P384():
			return ECDSAP384
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		case 4096:
			return RSA4096
		}
	case ed25519.PublicKey:
		return Ed25519
	}
	return ""
}

// MarshalPrivateKeyPEM encodes key in the form kubeadm writes: PKCS#1
// "RSA PRIVATE KEY" for RSA, SEC1 "EC PRIVATE KEY" for ECDSA, and PKCS#8
// "PRIVATE KEY" for Ed25519, which has no other standard form.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		der := x509.MarshalPKCS1PrivateKey(k)
		defer clear(der)
		return encodePEM("RSA PRIVATE KEY", der), nil
	case *ecdsa.PrivateKey:
		der, err := marshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("marshal EC key: %w", err)
		}
		defer clear(der)
		return encodePEM("EC PRIVATE KEY", der), nil
	case ed25519.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("marshal Ed25519 key: %w", err)
		}
		defer clear(der)
		return encodePEM("PRIVATE KEY", der), nil
	}
	return nil, fmt.Errorf("marshal private key: unsupported type %T", key)
}

// ParsePrivateKeyPEM parses a private key in PEM (PKCS#1, SEC1 or PKCS#8)
// or raw DER. Extra PEM blocks before the key, such as the "EC PARAMETERS"
// block that openssl ecparam writes, are skipped. It returns
// ErrEncryptedKey for password-protected keys and ErrNotPrivateKey (with
// what was found) for certificates, requests and public keys.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	if len(data) > maxPEMInput {
		return nil, ErrTooLarge
	}
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch block.Type {
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY":
			if _, ok := block.Headers["DEK-Info"]; ok {
				return nil, ErrEncryptedKey
			}
			return parsePrivateKeyDER(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncryptedKey
		case "EC PARAMETERS":
			continue
		case "CERTIFICATE", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "PUBLIC KEY", "RSA PUBLIC KEY":
			return nil, fmt.Errorf("%w: found a %s PEM block", ErrNotPrivateKey, block.Type)
		default:
			return nil, fmt.Errorf("%w: %q", ErrWrongPEMType, block.Type)
		}
	}
	if sawPEM {
		return nil, fmt.Errorf("%w: no private key block", ErrNotPrivateKey)
	}
	if k, err := parsePrivateKeyDER(data); err == nil {
		return k, nil
	}
	if _, err := x509.ParseCertificate(data); err == nil {
		return nil, fmt.Errorf("%w: found a DER certificate", ErrNotPrivateKey)
	}
	return nil, ErrNoPEM
}

func parsePrivateKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot parse as PKCS#1, SEC1 or PKCS#8", ErrNotPrivateKey)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrNotPrivateKey, k)
	}
	if _, isECDH := k.(interface{ ECDH() }); isECDH {
		return nil, fmt.Errorf("%w: X25519 keys cannot sign", ErrNotPrivateKey)
	}
	return s, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" block, the form of
// kubeadm's sa.pub.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return encodePEM("PUBLIC KEY", der), nil
}

// ParsePublicKeyPEM parses a PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY"
// block, or PKIX DER.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	if len(data) > maxPEMInput {
		return nil, ErrTooLarge
	}
	block, _ := pem.Decode(data)
	if block == nil {
		if pub, err := x509.ParsePKIXPublicKey(data); err == nil {
			return pub, nil
		}
		return nil, ErrNoPEM
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse RSA public key: %w", err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: %q, want PUBLIC KEY", ErrWrongPEMType, block.Type)
}

// DescribeKey returns a short description such as "ECDSA P-256",
// "RSA 2048" or "Ed25519".
func DescribeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("unknown (%T)", pub)
}

// CheckKeyStrength returns ErrWeakKey unless pub is ECDSA P-256 or P-384,
// RSA of 2048 bits or more with exponent 65537, or Ed25519.
func CheckKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("%w: ECDSA curve %s", ErrWeakKey, k.Curve.Params().Name)
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return fmt.Errorf("%w: RSA %d bits, need at least 2048", ErrWeakKey, n)
		}
		if k.E != 65537 {
			return fmt.Errorf("%w: RSA exponent %d, need 65537", ErrWeakKey, k.E)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("%w: %T", ErrWeakKey, pub)
}

// PublicKeysEqual reports whether a and b are the same public key.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

// Named-curve OIDs of RFC 5480.
var (
	oidP256 = []int{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = []int{1, 3, 132, 0, 34}
)

// marshalECPrivateKey encodes k in SEC1 (RFC 5915), byte for byte as
// x509.MarshalECPrivateKey does, without encoding/asn1's reflection for
// the curves kubepki makes; other curves go through x509.
func marshalECPrivateKey(k *ecdsa.PrivateKey) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch k.Curve {
	case elliptic.P256():
		oid = oidP256
	case elliptic.P384():
		oid = oidP384
	default:
		return x509.MarshalECPrivateKey(k)
	}
	// priv is not cleared: crypto/ecdsa returns the scalar of the key's
	// cached internal form, not a copy, and wiping it would wipe the key
	// for every goroutine signing with it or marshalling it at the time.
	priv, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // ecPrivkeyVer1
		b.AddASN1OctetString(priv)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
		})
		b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1BitString(pub)
		})
	})
	return b.Bytes()
}
