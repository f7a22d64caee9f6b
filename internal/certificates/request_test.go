package certificates

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	p256 := testKey(t, "ecdsa-p256")
	good := csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane", "dev")})
	goodDER := csrDER(t, p256, &x509.CertificateRequest{Subject: subject("jane", "dev")})
	tampered := bytes.Clone(goodDER)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	twoCNs := csrPEM(t, p256, &x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "admin"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "jane"},
	}}})
	dupExt := csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), ExtraExtensions: []pkix.Extension{
		{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}},
		{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}},
	}})
	manyDNS := make([]string, MaxSANs+1)
	for i := range manyDNS {
		manyDNS[i] = "a.example"
	}

	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"ECDSA P-256", good, nil},
		{"surrounding whitespace", append(append([]byte("\n  "), good...), "\n\n"...), nil},
		{"ECDSA P-384", csrPEM(t, testKey(t, "ecdsa-p384"), &x509.CertificateRequest{Subject: subject("jane")}), nil},
		{"RSA 2048", csrPEM(t, testKey(t, "rsa-2048"), &x509.CertificateRequest{Subject: subject("jane")}), nil},
		{"RSA 2048 PSS", csrPEM(t, testKey(t, "rsa-2048"), &x509.CertificateRequest{Subject: subject("jane"), SignatureAlgorithm: x509.SHA256WithRSAPSS}), nil},
		{"Ed25519", csrPEM(t, testKey(t, "ed25519"), &x509.CertificateRequest{Subject: subject("jane")}), nil},
		{"SANs of every kind", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), DNSNames: []string{"a.example"}, EmailAddresses: []string{"j@example.com"}, URIs: []*url.URL{{Scheme: "spiffe", Host: "td", Path: "/x"}}}), nil},

		{"empty", nil, ErrRequestPEM},
		{"not PEM", []byte("hello"), ErrRequestPEM},
		{"DER", goodDER, ErrRequestPEM},
		{"text before the block", append([]byte("Certificate Request:\n"), good...), ErrRequestPEM},
		{"NEW CERTIFICATE REQUEST", pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: goodDER}), ErrRequestPEM},
		{"CERTIFICATE", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: goodDER}), ErrRequestPEM},
		{"PEM headers", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: goodDER}), ErrRequestPEM},
		{"two blocks", append(bytes.Clone(good), good...), ErrRequestPEM},
		{"trailing text", append(bytes.Clone(good), "junk"...), ErrRequestPEM},
		{"truncated DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: goodDER[:len(goodDER)/2]}), ErrRequestParse},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), ErrRequestSignature},
		{"too large", append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxRequestBytes)...), ErrRequestTooLarge},
		{"SHA-1 RSA", csrPEM(t, testKey(t, "rsa-2048"), &x509.CertificateRequest{Subject: subject("jane"), SignatureAlgorithm: x509.SHA1WithRSA}), ErrSignatureAlgorithm},
		{"SHA-1 ECDSA", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), SignatureAlgorithm: x509.ECDSAWithSHA1}), ErrSignatureAlgorithm},
		{"RSA 1024", csrPEM(t, testKey(t, "rsa-1024"), &x509.CertificateRequest{Subject: subject("jane")}), ErrPublicKey},
		{"ECDSA P-224", csrPEM(t, testKey(t, "ecdsa-p224"), &x509.CertificateRequest{Subject: subject("jane")}), ErrPublicKey},
		{"ECDSA P-521", csrPEM(t, testKey(t, "ecdsa-p521"), &x509.CertificateRequest{Subject: subject("jane")}), ErrPublicKey},
		{"two CNs", twoCNs, ErrSubject},
		{"control character in CN", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane\x1b[31m")}), ErrSubject},
		{"control character in O", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane", "dev\nops")}), ErrSubject},
		{"over-long CN", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject(strings.Repeat("a", MaxSubjectValueLength+1))}), ErrSubject},
		{"too many O", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane", make([]string, MaxSubjectAttributes)...)}), ErrSubject},
		{"control character in email", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), EmailAddresses: []string{"j\x7f@example.com"}}), ErrSANs},
		{"too many SANs", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), DNSNames: manyDNS}), ErrSANs},
		{"over-long DNS SAN", csrPEM(t, p256, &x509.CertificateRequest{Subject: subject("jane"), DNSNames: []string{strings.Repeat("a", MaxSANLength+1)}}), ErrSANs},
		{"duplicate extension", dupExt, ErrRequestParse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := ParseRequest(tc.data)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseRequest() error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && req == nil {
				t.Fatal("ParseRequest() = nil request without error")
			}
			if tc.wantErr != nil && req != nil {
				t.Fatal("ParseRequest() returned a request with an error")
			}
		})
	}
}

func TestCheckPublicKey(t *testing.T) {
	t.Parallel()
	good := testKey(t, "rsa-2048").Public().(*rsa.PublicKey)
	// Two consecutive primes near 2^1023.5 make a 2048-bit modulus that
	// Fermat's method factors in its first step.
	nextPrime := func(n *big.Int) *big.Int {
		n = new(big.Int).SetBit(n, 0, 1)
		for !n.ProbablyPrime(20) {
			n.Add(n, big.NewInt(2))
		}
		return n
	}
	base := nextPrime(new(big.Int).Add(new(big.Int).Sqrt(new(big.Int).Lsh(big.NewInt(1), 2047)), big.NewInt(1)))
	closeN := new(big.Int).Mul(base, nextPrime(new(big.Int).Add(base, big.NewInt(2))))
	// A 2048-bit odd multiple of 3.
	smallFactor := new(big.Int).Sub(good.N, new(big.Int).Mod(good.N, big.NewInt(3)))
	if smallFactor.Bit(0) == 0 {
		smallFactor.Sub(smallFactor, big.NewInt(3))
	}
	for _, n := range []*big.Int{closeN, smallFactor} {
		if n.BitLen() != 2048 || n.Bit(0) != 1 {
			t.Fatalf("test modulus has %d bits, odd=%d; want 2048, odd", n.BitLen(), n.Bit(0))
		}
	}

	tests := []struct {
		name    string
		key     any
		wantErr error
	}{
		{"RSA 2048", good, nil},
		{"ECDSA P-256", testKey(t, "ecdsa-p256").Public(), nil},
		{"Ed25519", testKey(t, "ed25519").Public(), nil},
		{"exponent 3", &rsa.PublicKey{N: good.N, E: 3}, ErrPublicKey},
		{"even modulus", &rsa.PublicKey{N: new(big.Int).Add(good.N, big.NewInt(1)), E: 65537}, ErrPublicKey},
		{"small factor", &rsa.PublicKey{N: smallFactor, E: 65537}, ErrPublicKey},
		{"close primes", &rsa.PublicKey{N: closeN, E: 65537}, ErrPublicKey},
		{"RSA 2047", &rsa.PublicKey{N: new(big.Int).Rsh(good.N, 1), E: 65537}, ErrPublicKey},
		{"nil modulus", &rsa.PublicKey{E: 65537}, ErrPublicKey},
		{"nil", nil, ErrPublicKey},
		{"unknown type", "key", ErrPublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := CheckPublicKey(tc.key); !errors.Is(err, tc.wantErr) {
				t.Errorf("CheckPublicKey() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
