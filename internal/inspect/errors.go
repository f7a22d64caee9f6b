package inspect

import "errors"

var (
	// ErrUnrecognized is returned by [Parse] when the input is neither PEM,
	// DER (certificate, certificate request, key) nor a kubeconfig file.
	ErrUnrecognized = errors.New("not a certificate, certificate request, key or kubeconfig")

	// ErrTooLarge is returned by [Parse] for input over [MaxInputSize]
	// bytes; PEM and YAML decoders are not fed unbounded input.
	ErrTooLarge = errors.New("input too large")

	// ErrMalformedPEM is returned by [Parse] for a PEM BEGIN line that
	// starts no block pem.Decode can decode: a file cut short after its
	// BEGIN line, a body that is not base64, an END line of another type.
	ErrMalformedPEM = errors.New("truncated or malformed PEM")

	// ErrEmpty is returned by [Parse] for input that holds nothing but
	// white space.
	ErrEmpty = errors.New("empty input")

	// ErrCSRObjectRequest is returned by [Parse] for a
	// CertificateSigningRequest object whose spec.request is not base64:
	// raw PEM pasted in, or base64 broken by spaces.
	ErrCSRObjectRequest = errors.New("spec.request is not base64-encoded PEM")
)
