package certificates

import "errors"

// Errors returned by [ParseRequest], wrapped with details. Callers test them
// with errors.Is.
var (
	// ErrRequestTooLarge is returned when spec.request exceeds MaxRequestBytes.
	ErrRequestTooLarge = errors.New("request is too large")
	// ErrRequestPEM is returned when spec.request is not exactly one PEM
	// block of type CERTIFICATE REQUEST without headers or other content.
	ErrRequestPEM = errors.New("request must be exactly one PEM block of type CERTIFICATE REQUEST")
	// ErrRequestParse is returned when the PKCS#10 DER does not parse.
	ErrRequestParse = errors.New("request does not parse as PKCS#10")
	// ErrRequestSignature is returned when the request's self-signature
	// does not verify.
	ErrRequestSignature = errors.New("request signature is invalid")
	// ErrSignatureAlgorithm is returned for signature algorithms outside the
	// policy (MD5, SHA-1, DSA, unknown).
	ErrSignatureAlgorithm = errors.New("signature algorithm is not allowed")
	// ErrPublicKey is returned for public keys outside the policy: ECDSA
	// other than P-256/P-384, RSA other than 2048/3072/4096 bits with
	// exponent 65537, structurally weak RSA moduli, and other key types.
	ErrPublicKey = errors.New("public key is not allowed")
	// ErrSubject is returned for a subject with more than one CN, over-long
	// values, too many values or control characters.
	ErrSubject = errors.New("subject is not allowed")
	// ErrSANs is returned for too many, over-long or control-character
	// subject alternative names.
	ErrSANs = errors.New("subject alternative names are not allowed")
	// ErrExtensions is returned for duplicate requested extensions.
	ErrExtensions = errors.New("requested extensions are not allowed")
)

// Errors naming the rule a built-in signer's policy rejected, as
// kube-controller-manager words them. [CheckSignerPolicy] wraps them in a
// *SignerPolicyError.
var (
	ErrOrganizationNotSystemNodes = errors.New("subject organization is not system:nodes")
	ErrCommonNameNotSystemNode    = errors.New("subject common name does not begin with system:node:")
	ErrEmptyNodeName              = errors.New("subject common name system:node: names no node")
	ErrDNSSANNotAllowed           = errors.New("DNS subjectAltNames are not allowed")
	ErrIPSANNotAllowed            = errors.New("IP subjectAltNames are not allowed")
	ErrEmailSANNotAllowed         = errors.New("Email subjectAltNames are not allowed")
	ErrURISANNotAllowed           = errors.New("URI subjectAltNames are not allowed")
	ErrDNSOrIPSANRequired         = errors.New("DNS or IP subjectAltName is required")
	ErrUsagesMismatch             = errors.New("usages did not match")
	ErrInvalidClientUsage         = errors.New("invalid usage for client certificate")
	ErrMissingClientAuth          = errors.New("missing required usage for client certificate")
	ErrSystemMasters              = errors.New("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed")
	ErrUnknownUsage               = errors.New("unrecognized usage values")
	ErrNotBuiltInSigner           = errors.New("signer is not a built-in signer")
)
