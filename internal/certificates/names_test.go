package certificates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

// TestNameProblems lists every problem of a request's names, in order,
// each wrapping ErrSubject or ErrSANs, and CheckRequest refuses with the
// first.
func TestNameProblems(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cn := func(v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: v}
	}
	tests := []struct {
		name     string
		tmpl     x509.CertificateRequest
		wantErrs []error // one per problem, in order
	}{
		{name: "clean", tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}, DNSNames: []string{"jane.example"}}},
		{name: "two common names", tmpl: x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{cn("first"), cn("second")}}},
			wantErrs: []error{ErrSubject}},
		{name: "escape in the common name", tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane\x1b[2K"}},
			wantErrs: []error{ErrSubject}},
		{name: "newline in an organization and two common names", tmpl: x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"dev\nsystem:masters"}, ExtraNames: []pkix.AttributeTypeAndValue{cn("a"), cn("b")}}},
			wantErrs: []error{ErrSubject, ErrSubject}},
		{name: "control character in a DNS SAN", tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}, DNSNames: []string{"jane\x07.example"}},
			wantErrs: []error{ErrSANs}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			der, err := x509.CreateCertificateRequest(rand.Reader, &tc.tmpl, key)
			if err != nil {
				t.Fatal(err)
			}
			req, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			problems := NameProblems(req)
			if len(problems) != len(tc.wantErrs) {
				t.Fatalf("NameProblems = %v, want %d problems", problems, len(tc.wantErrs))
			}
			for i, want := range tc.wantErrs {
				if !errors.Is(problems[i], want) || problems[i].Error() == "" {
					t.Errorf("problem %d = %v, want %v", i, problems[i], want)
				}
			}
			// CheckRequest refuses the request with the first problem.
			err = CheckRequest(req)
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Errorf("CheckRequest = %v, want nil", err)
				}
			} else if err == nil || err.Error() != problems[0].Error() {
				t.Errorf("CheckRequest = %v, want the first problem %v", err, problems[0])
			}
		})
	}
}
