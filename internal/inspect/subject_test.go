package inspect

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kubepki/kubepki/internal/certificates"
)

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
