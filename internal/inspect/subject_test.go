package inspect

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

func TestCheckRequestSubject(t *testing.T) {
	t.Parallel()
	key, err := pki.GenerateKey(pki.ECDSAP256)
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
			wantErrs: []error{certificates.ErrSubject}},
		{name: "escape in the common name", tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane\x1b[2K"}},
			wantErrs: []error{certificates.ErrSubject}},
		{name: "newline in an organization and two common names", tmpl: x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"dev\nsystem:masters"}, ExtraNames: []pkix.AttributeTypeAndValue{cn("a"), cn("b")}}},
			wantErrs: []error{certificates.ErrSubject, certificates.ErrSubject}},
		{name: "control character in a DNS SAN", tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}, DNSNames: []string{"jane\x07.example"}},
			wantErrs: []error{certificates.ErrSANs}},
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
			problems := requestNameProblems(req)
			if len(problems) != len(tc.wantErrs) {
				t.Fatalf("requestNameProblems = %v, want %d problems", problems, len(tc.wantErrs))
			}
			for i, want := range tc.wantErrs {
				if !errors.Is(problems[i], want) || problems[i].Error() == "" {
					t.Errorf("problem %d = %v, want %v", i, problems[i], want)
				}
			}
			err = CheckRequestSubject(req)
			if (err == nil) != (len(tc.wantErrs) == 0) {
				t.Errorf("CheckRequestSubject = %v, want %d problems", err, len(tc.wantErrs))
			}
			for _, want := range tc.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("CheckRequestSubject = %v, want it to wrap %v", err, want)
				}
			}
		})
	}
}

// TestLintRequestFiles makes certificate requests with openssl req, as the
// guides do, and shows that lint of the .csr files applies the subject
// rules the Certificates API applies to the same request in a
// CertificateSigningRequest object (L48).
func TestLintRequestFiles(t *testing.T) {
	t.Parallel()
	g := newGuide(t)
	g.key("k.key")
	tests := []struct {
		name, subject string
		want          []string
	}{
		{name: "clean", subject: "/CN=jane/O=dev"},
		{name: "two common names", subject: "/CN=first/CN=second", want: []string{RuleCSRSubject}},
		{name: "escape sequence", subject: "/CN=jane\x1b[31m", want: []string{RuleCSRSubject}},
		{name: "newline in an organization", subject: "/CN=jane/O=dev\nsystem:masters", want: []string{RuleCSRSubject}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join("req", string(rune('a'+i))+".csr")
			g.mkdir(name)
			g.run("req", "-new", "-utf8", "-key", "k.key", "-subj", tc.subject, "-out", name)
			rep, err := Lint([]string{g.path(name)}, LintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				t.Logf("%s %s %s: %s", f.Severity, f.Rule, f.Source, f.Message)
			}
			if got := rulesOf(rep.Findings); !slices.Equal(got, tc.want) {
				t.Errorf("lint of a request with subject %q: rules %q, want %q", tc.subject, got, tc.want)
			}
			// The same request in a CertificateSigningRequest object is
			// refused by the API's validation.
			data, err := os.ReadFile(g.path(name))
			if err != nil {
				t.Fatal(err)
			}
			_, apiErr := certificates.ParseRequest(data)
			if (apiErr != nil) != (len(tc.want) > 0) {
				t.Errorf("certificates.ParseRequest = %v; lint and the API disagree", apiErr)
			}
		})
	}
}
