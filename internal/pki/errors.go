package pki

import "errors"

var (
	// ErrNoPEM is returned when input holds neither a PEM block nor DER of
	// the expected kind.
	ErrNoPEM = errors.New("no PEM data found")
	// ErrWrongPEMType is returned when a PEM block has a type other than
	// the one asked for (for example a CERTIFICATE where a key is expected).
	ErrWrongPEMType = errors.New("unexpected PEM block type")
	// ErrEncryptedKey is returned for a password-protected private key,
	// which kubepki does not read.
	ErrEncryptedKey = errors.New("private key is encrypted")
	// ErrNotPrivateKey is returned when input parses as something other
	// than a private key.
	ErrNotPrivateKey = errors.New("not a private key")
	// ErrKeyMismatch is returned when a private key does not belong to a
	// certificate or request.
	ErrKeyMismatch = errors.New("private key does not match the public key")
	// ErrWeakKey is returned for keys below kubepki's policy: RSA under
	// 2048 bits or with an exponent other than 65537, curves other than
	// P-256 and P-384, or unknown key types.
	ErrWeakKey = errors.New("key too weak or of an unsupported type")
	// ErrExists is returned by WriteFileNew when the path already exists.
	ErrExists = errors.New("file already exists")
	// ErrNotCA is returned when a certificate used as an issuer is not a
	// CA (no CA:TRUE or no keyCertSign).
	ErrNotCA = errors.New("certificate is not a CA")
	// ErrCAExpired is returned when a CA outside its validity is asked to
	// sign.
	ErrCAExpired = errors.New("CA certificate is expired or not yet valid")
	// ErrUnsafePath is returned when a write target is a symlink or not a
	// regular file.
	ErrUnsafePath = errors.New("path is a symlink or not a regular file")
	// ErrTooLarge is returned for input larger than the parsers accept.
	ErrTooLarge = errors.New("input too large")
)
