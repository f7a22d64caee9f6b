package certificates

import (
	"crypto/x509"
	"testing"
)

func BenchmarkParseRequest(b *testing.B) {
	for _, kind := range []string{"ecdsa-p256", "rsa-2048", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			data := csrPEM(b, testKey(b, kind), &x509.CertificateRequest{Subject: subject("jane", "dev")})
			// first: the signature is verified (a new request); again: the
			// same request parsed another time, as the signer does after
			// create.
			b.Run("first", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					verified.mu.Lock()
					clear(verified.seen)
					verified.mu.Unlock()
					if _, err := ParseRequest(data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("again", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ParseRequest(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkValidateCreate(b *testing.B) {
	csr := userCSR(b)
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidateCreate(csr); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkCheckPublicKeyRSA(b *testing.B) {
	pub := testKey(b, "rsa-2048").Public()
	for b.Loop() {
		if err := CheckPublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
}
