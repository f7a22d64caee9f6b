package pki

import (
	"bytes"
	"encoding/pem"
	"testing"
)

func seedPEM(f *testing.F) {
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "seed"})
	if err != nil {
		f.Fatal(err)
	}
	keyPEM, _ := MarshalPrivateKeyPEM(ca.Key)
	csr, _ := CreateCSR(ca.Key, subjectCN("a", "b"), SANs{DNSNames: []string{"x"}})
	f.Add(keyPEM)
	f.Add(MarshalCertificatePEM(ca.Cert))
	f.Add(ca.Cert.Raw)
	f.Add(MarshalCSRPEM(csr))
	f.Add(csr)
	f.Add(ca.Cert.Raw[:len(ca.Cert.Raw)/2])
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: csr}))
	f.Add(append(MarshalCSRPEM(csr), MarshalCSRPEM(csr)...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	seedPEM(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		out, err := MarshalPrivateKeyPEM(key)
		if err != nil {
			return // a parsed key type we do not write (none today)
		}
		back, err := ParsePrivateKeyPEM(out)
		if err != nil || !PublicKeysEqual(back.Public(), key.Public()) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	seedPEM(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		back, err := ParseCertificatesPEM(MarshalCertificatesPEM(certs))
		if err != nil || len(back) != len(certs) {
			t.Fatalf("round trip: %d certs, %v", len(back), err)
		}
		for i := range certs {
			if !bytes.Equal(back[i].Raw, certs[i].Raw) {
				t.Fatal("round trip changed a certificate")
			}
		}
	})
}

func FuzzParseCSRPEM(f *testing.F) {
	seedPEM(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSRPEM(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_ = csr.CheckSignature() // must not panic
		back, err := ParseCSRPEM(MarshalCSRPEM(csr.Raw))
		if err != nil || !bytes.Equal(back.Raw, csr.Raw) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"/CN=jane/O=dev/O=ops", `/CN=a\/b`, "/C=DE/ST=x/L=y/OU=z/CN=q", "", "/", "//", `/CN=\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSubject(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		back, err := ParseSubject(FormatSubject(n))
		if err != nil {
			t.Fatalf("ParseSubject(FormatSubject(%q)) = %v", s, err)
		}
		if FormatSubject(back) != FormatSubject(n) {
			t.Fatalf("round trip changed %q", s)
		}
	})
}

func FuzzParseSANs(f *testing.F) {
	for _, s := range []string{"DNS:a.b", "IP:10.0.0.1", "::1", "URI:spiffe://x/y", "email:a@b.c", "a,b,,c", "*.example.com", "DNS:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sans, err := ParseSANs([]string{s})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		back, err := ParseSANs(sans.Strings())
		if err != nil {
			t.Fatalf("ParseSANs(Strings(ParseSANs(%q))) = %v", s, err)
		}
		if len(back.Strings()) != len(sans.Strings()) {
			t.Fatalf("round trip changed %q: %v vs %v", s, sans.Strings(), back.Strings())
		}
	})
}

// FuzzTBSSignatureAlgorithm: the TBSCertificate reader of Prepare never
// panics, and what it returns is a DER SEQUENCE inside its input.
func FuzzTBSSignatureAlgorithm(f *testing.F) {
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "kubernetes"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.Cert.RawTBSCertificate)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tbs []byte) {
		alg, err := tbsSignatureAlgorithm(tbs)
		if err != nil {
			return
		}
		if len(alg) < 2 || alg[0] != 0x30 || !bytes.Contains(tbs, alg) {
			t.Fatalf("returned %x, not a SEQUENCE of the input", alg)
		}
	})
}
