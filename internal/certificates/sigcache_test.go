package certificates

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
)

// TestParseRequestVerifiedCache shows that remembering verified requests
// never lets a different request through: a request whose signature was
// altered after its original verified is still refused, a known one is
// accepted again, and the cache stays bounded.
func TestParseRequestVerifiedCache(t *testing.T) {
	key := testKey(t, "ecdsa-p256")
	der := csrDER(t, key, &x509.CertificateRequest{Subject: subject("cache-jane")})
	good := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	tampered := bytes.Clone(der)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})

	if _, err := ParseRequest(good); err != nil {
		t.Fatalf("ParseRequest(good) = %v", err)
	}
	verified.mu.Lock()
	_, cached := verified.seen[sha256.Sum256(der)]
	verified.mu.Unlock()
	if !cached {
		t.Fatal("a verified request was not remembered")
	}
	for range 2 {
		if _, err := ParseRequest(bad); !errors.Is(err, ErrRequestSignature) {
			t.Fatalf("ParseRequest(tampered after good) = %v, want %v", err, ErrRequestSignature)
		}
		if _, err := ParseRequest(good); err != nil {
			t.Fatalf("ParseRequest(good, cached) = %v", err)
		}
	}
	verified.mu.Lock()
	_, cached = verified.seen[sha256.Sum256(tampered)]
	verified.mu.Unlock()
	if cached {
		t.Fatal("a request whose signature failed was remembered")
	}

	// A cache hit still runs every policy check after the signature.
	twoCNs := csrPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidCommonName, Value: "admin"},
		{Type: oidCommonName, Value: "cache-jane"},
	}}})
	for i := range 2 {
		if _, err := ParseRequest(twoCNs); !errors.Is(err, ErrSubject) {
			t.Fatalf("ParseRequest(two CNs), attempt %d = %v, want %v", i+1, err, ErrSubject)
		}
	}
}

func TestSigCacheBounded(t *testing.T) {
	key := testKey(t, "ecdsa-p256")
	req, err := x509.ParseCertificateRequest(csrDER(t, key, &x509.CertificateRequest{Subject: subject("bounded")}))
	if err != nil {
		t.Fatal(err)
	}
	c := &sigCache{seen: make(map[[sha256.Size]byte]struct{})}
	for i := range maxVerifiedRequests {
		c.seen[[sha256.Size]byte{byte(i), byte(i >> 8), 1}] = struct{}{}
	}
	if err := c.checkSignature(req); err != nil {
		t.Fatalf("checkSignature = %v", err)
	}
	if n := len(c.seen); n != 1 {
		t.Fatalf("cache holds %d entries after overflowing, want 1", n)
	}
	bad := *req
	bad.Signature = bytes.Clone(req.Signature)
	bad.Signature[len(bad.Signature)-1] ^= 1
	bad.Raw = append(bytes.Clone(req.Raw), 0) // a different DER
	if err := c.checkSignature(&bad); err == nil {
		t.Fatal("checkSignature accepted a bad signature")
	}
	if n := len(c.seen); n != 1 {
		t.Fatalf("cache holds %d entries after a failure, want 1", n)
	}
}
