package inspect

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

func TestDNSNameProblem(t *testing.T) {
	t.Parallel()
	valid := []string{"kubernetes", "kubernetes.default.svc.cluster.local", "cp1", "*.example.org", "*.svc",
		"Node-1.Example.ORG", "_dmarc.example.org", "xn--bcher-kva.example", "a.b-c.d", "0a.example",
		strings.Repeat("a", 63) + ".example", strings.Repeat("abcdefghi.", 25) + "abc"}
	invalid := []string{"", "Bad CN/with slash", "a b", "example.org.", ".example.org", "a..b", "-a.example",
		"a-.example", "*", "foo.*.example", "f*o.example", "bücher.example", "user@example.org",
		strings.Repeat("a", 64) + ".example", strings.Repeat("abcdefghi.", 25) + "abcd"}
	for _, name := range valid {
		if why := dnsNameProblem(name); why != "" {
			t.Errorf("dnsNameProblem(%q) = %q, want \"\"", name, why)
		}
	}
	for _, name := range invalid {
		if why := dnsNameProblem(name); why == "" {
			t.Errorf("dnsNameProblem(%q) = \"\", want a reason", name)
		}
	}
}

// TestLintNamesAndKeyTypes checks the rules on DNS SANs (L44) and on
// Ed25519 keys (L45, L46), and that what kubeadm makes, key encipherment
// on ECDSA and RSA keys included, draws none of them.
func TestLintNamesAndKeyTypes(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "kubernetes")
	// A CA whose common name was copied into its DNS SAN, as kubeadm does,
	// though it is no DNS name.
	slashKey, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	slashTmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: "Bad CN/with slash"}, DNSNames: []string{"Bad CN/with slash"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	if slashTmpl.SerialNumber, err = pki.NewSerial(); err != nil {
		t.Fatal(err)
	}
	slashDER, err := x509.CreateCertificate(rand.Reader, slashTmpl, slashTmpl, slashKey.Public(), slashKey)
	if err != nil {
		t.Fatal(err)
	}
	slashCA, err := x509.ParseCertificate(slashDER)
	if err != nil {
		t.Fatal(err)
	}
	edCA, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "ed-ca", KeyAlgorithm: pki.Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := pki.GenerateKey(pki.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	p384Key, err := pki.GenerateKey(pki.ECDSAP384)
	if err != nil {
		t.Fatal(err)
	}
	client := func(ku x509.KeyUsage) *x509.Certificate {
		tmpl := leafTmpl("jane", []string{"dev"}, x509.ExtKeyUsageClientAuth)
		tmpl.KeyUsage = ku
		return tmpl
	}
	serving := func(dns ...string) *x509.Certificate {
		tmpl := leafTmpl("web", nil, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = dns
		return tmpl
	}
	const dsKE = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tests := []struct {
		name string
		cert *x509.Certificate
		want []string
	}{
		{name: "CA with a slash in its DNS SAN", cert: slashCA, want: []string{RuleDNSName}},
		{name: "kubeadm-style CA", cert: ca.Cert},
		{name: "serving certificate with a space in a name", cert: signRaw(t, ca, serving("web.example.org", "my host.example.org"), nil), want: []string{RuleDNSName}},
		{name: "serving certificate with a wildcard", cert: signRaw(t, ca, serving("*.apps.example.org", "apps.example.org"), nil)},
		{name: "serving certificate with a wildcard inside", cert: signRaw(t, ca, serving("web.*.example.org"), nil), want: []string{RuleDNSName}},
		{name: "Ed25519 CA", cert: edCA.Cert, want: []string{RuleEd25519CA}},
		{name: "Ed25519 leaf with key encipherment", cert: signRaw(t, ca, client(dsKE), edPub), want: []string{RuleKeyUsageForKey}},
		{name: "Ed25519 leaf with key agreement", cert: signRaw(t, ca, client(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement), edPub), want: []string{RuleKeyUsageForKey}},
		{name: "Ed25519 leaf signing only", cert: signRaw(t, ca, client(x509.KeyUsageDigitalSignature), edPub)},
		{name: "ECDSA P-256 leaf with key encipherment, as kubeadm", cert: signRaw(t, ca, client(dsKE), nil)},
		{name: "ECDSA P-384 leaf with key encipherment, as kubeadm", cert: signRaw(t, ca, client(dsKE), p384Key.Public())},
		{name: "RSA leaf with key encipherment", cert: signRaw(t, ca, client(dsKE), rsaKey.Public())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := LintCertificate(tc.cert, Context{})
			for _, f := range fs {
				t.Logf("%s %s: %s", f.Rule, f.Source, f.Message)
			}
			if diff := cmp.Diff(tc.want, rulesOf(fs)); diff != "" {
				t.Errorf("LintCertificate rules (-want +got):\n%s", diff)
			}
		})
	}
}
