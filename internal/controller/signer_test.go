package controller_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
)

// TestSignerIssuesClientCertificate drives the whole flow against the real
// API server: a user creates a CSR, the administrator approves it, the
// signer issues, and openssl accepts the certificate.
func TestSignerIssuesClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec)})

	jane := e.client("jane", "dev")
	in, key := userCSR(t, "jane")
	create(t, jane, in)
	approve(t, e.admin, "jane")
	csr, cert := waitIssued(t, e.admin, "jane")

	if !pki.PublicKeysEqual(cert.PublicKey, key.Public()) {
		t.Error("certificate is not for the requester's key")
	}
	if cert.Subject.CommonName != "jane" || !slices.Equal(cert.Subject.Organization, []string{"dev"}) {
		t.Errorf("subject = %v, want CN=jane,O=dev", cert.Subject)
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Error("leaf is not CA:FALSE")
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; cert.KeyUsage != want {
		t.Errorf("KeyUsage = %b, want %b", cert.KeyUsage, want)
	}
	if diff := cmp.Diff([]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage); diff != "" {
		t.Errorf("ExtKeyUsage (-want +got):\n%s", diff)
	}
	if got := cert.SerialNumber.BitLen(); got < 100 {
		t.Errorf("serial has %d bits, want about 128", got)
	}
	c, ok := certificates.Condition(csr, controller.ConditionIssuing)
	if !ok || c.Status != corev1.ConditionFalse || c.Reason != controller.ReasonIssued {
		t.Errorf("Issuing condition = %+v, want False/Issued", c)
	}
	if !eventually(func() bool { return rec.count("certificate issued", "jane") == 1 }) {
		t.Errorf("%d audit lines for the issuance, want 1", rec.count("certificate issued", "jane"))
	}

	caFile := writeTemp(t, "ca.crt", e.srv.CAPEM)
	certFile := writeTemp(t, "jane.crt", csr.Status.Certificate)
	if out := openssl(t, "verify", "-CAfile", caFile, "-purpose", "sslclient", certFile); !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify: %s", out)
	}
	text := openssl(t, "x509", "-in", certFile, "-noout", "-text")
	for _, want := range []string{"CA:FALSE", "TLS Web Client Authentication", "Digital Signature, Key Encipherment"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl x509 -text lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"CA:TRUE", "Certificate Sign", "TLS Web Server Authentication"} {
		if strings.Contains(text, bad) {
			t.Errorf("openssl x509 -text shows %q:\n%s", bad, text)
		}
	}

	// The issued certificate authenticates as jane against the server.
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.srv.Config("unused")
	cfg.CertData, cfg.KeyData = csr.Status.Certificate, keyPEM
	if _, err := clientFor(t, cfg).List(t.Context(), metav1.ListOptions{}); err == nil {
		t.Error("jane, a plain user, may list CSRs; the certificate did not authenticate as jane")
	} else if !isForbidden(err) {
		t.Errorf("list as jane = %v, want Forbidden (authenticated, not authorised)", err)
	}
}

// TestSignerPolicyFailures checks that approved CSRs that break their
// signer's policy, or that the policy allows but whose certificate would
// break kubepki lint's error rules (pre-issuance lint), end Failed with
// the rule, never with a certificate, and before any reservation or
// signature.
func TestSignerPolicyFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec)})
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	tests := []struct {
		name        string
		signer      string
		subject     pkix.Name
		dns         []string
		usages      []certv1.KeyUsage
		wantMessage string
	}{
		{"kubelet client with user subject", certificates.SignerKubeAPIServerClientKubelet, pkix.Name{CommonName: "jane", Organization: []string{"dev"}}, nil,
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}, "subject organization is not system:nodes"},
		{"kubelet client with DNS SAN", certificates.SignerKubeAPIServerClientKubelet, node, []string{"n1.example"},
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth}, "DNS subjectAltNames are not allowed"},
		{"kubelet serving without SAN", certificates.SignerKubeletServing, node, nil,
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}, "DNS or IP subjectAltName is required"},
		{"client signer with server auth", certificates.SignerKubeAPIServerClient, pkix.Name{CommonName: "jane"}, nil,
			[]certv1.KeyUsage{certv1.UsageClientAuth, certv1.UsageServerAuth}, "invalid usage for client certificate: server auth"},
		{"client signer with cert sign", certificates.SignerKubeAPIServerClient, pkix.Name{CommonName: "jane"}, nil,
			[]certv1.KeyUsage{certv1.UsageClientAuth, certv1.UsageCertSign}, "invalid usage for client certificate: cert sign"},
		{"lint: upper-case node name", certificates.SignerKubeAPIServerClientKubelet,
			pkix.Name{CommonName: "system:node:NODE01", Organization: []string{"system:nodes"}}, nil,
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
			`refusing to issue a certificate that breaks lint rules: L01: node name "NODE01" in common name "system:node:NODE01" is not a lower-case DNS-1123 subdomain`},
		{"lint: IP address in a DNS SAN", certificates.SignerKubeletServing, node, []string{"n1.example", "10.0.0.7"},
			[]certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth},
			`refusing to issue a certificate that breaks lint rules: L17: DNS SAN "10.0.0.7" is an IP address; use IP:10.0.0.7`},
	}
	for i, tc := range tests {
		name := "fail-" + string(rune('a'+i))
		in, _ := newCSR(t, name, tc.signer, tc.subject, tc.dns, nil, tc.usages...)
		create(t, e.admin, in)
		approve(t, e.admin, name)
		got := waitFor(t, e.admin, name, "failed", certificates.IsFailed)
		c, _ := certificates.Condition(got, certv1.CertificateFailed)
		if c.Reason != certificates.ReasonSignerValidationFailure || c.Message != tc.wantMessage {
			t.Errorf("%s: Failed = %q/%q, want %q/%q", tc.name, c.Reason, c.Message, certificates.ReasonSignerValidationFailure, tc.wantMessage)
		}
		if certificates.HasCertificate(got) {
			t.Errorf("%s: failed CSR has a certificate", tc.name)
		}
		if _, reserved := certificates.Condition(got, controller.ConditionIssuing); reserved {
			t.Errorf("%s: reserved before it was refused", tc.name)
		}
		if n := rec.count("csr signed", name); n != 0 {
			t.Errorf("%s: the CA key signed %d times, want 0", tc.name, n)
		}
	}
}

// TestSignerLeavesOthersAlone checks that pending, denied and foreign-signer
// CSRs never get a certificate: a later approved sentinel is issued, and
// the signer must have looked at the others by then (each resync also
// looks again).
func TestSignerLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), Workers: 1})

	pending, _ := userCSR(t, "pending")
	create(t, e.admin, pending)
	denied, _ := userCSR(t, "denied")
	create(t, e.admin, denied)
	deny(t, e.admin, "denied")
	foreign, _ := newCSR(t, "foreign", "example.com/signer", pkix.Name{CommonName: "x"}, nil, nil, certv1.UsageClientAuth)
	create(t, e.admin, foreign)
	approve(t, e.admin, "foreign")
	serving, _ := newCSR(t, "apiserver-serving", "kubernetes.io/kube-apiserver-serving", pkix.Name{CommonName: "x"}, []string{"x"}, nil,
		certv1.UsageDigitalSignature, certv1.UsageServerAuth)
	create(t, e.admin, serving)
	approve(t, e.admin, "apiserver-serving")

	sentinel, _ := userCSR(t, "sentinel")
	create(t, e.admin, sentinel)
	approve(t, e.admin, "sentinel")
	waitIssued(t, e.admin, "sentinel")

	for _, name := range []string{"pending", "denied", "foreign", "apiserver-serving"} {
		got, err := e.admin.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if certificates.HasCertificate(got) || certificates.IsFailed(got) {
			t.Errorf("%s: signer touched it: %+v", name, got.Status)
		}
		if _, ok := certificates.Condition(got, controller.ConditionIssuing); ok {
			t.Errorf("%s: signer reserved it", name)
		}
	}
	eventually(func() bool { return rec.count("certificate issued", "") >= 1 })
	if n := rec.count("certificate issued", ""); n != 1 {
		t.Errorf("%d certificates issued, want 1", n)
	}
}

// TestSignerDuration checks lifetimes with a fixed clock:
// min(expirationSeconds, signing duration), at least 10 minutes, back-dated
// 5 minutes for long lifetimes, capped at the CA's NotAfter.
func TestSignerDuration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fixed := time.Now().Truncate(time.Second)
	now := func() time.Time { return fixed }
	shortCA, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "short-ca", Validity: 48 * time.Hour, NotBefore: fixed.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	signers := controller.SameCA(e.srv.CA)
	signers[certificates.SignerKubeletServing] = shortCA
	startManager(t, controller.Config{Client: e.ctrl, Signers: signers, SigningDuration: 30 * 24 * time.Hour, Now: now, Logger: logger(newRecorder())})

	secs := func(d time.Duration) *int32 { v := int32(d / time.Second); return &v }
	tests := []struct {
		name          string
		expiration    *int32
		serving       bool
		wantNotBefore time.Time
		wantNotAfter  time.Time
	}{
		{"default is the signing duration", nil, false, fixed.Add(-5 * time.Minute), fixed.Add(-5*time.Minute + 30*24*time.Hour)},
		{"ten minutes, not back-dated at the end", secs(10 * time.Minute), false, fixed.Add(-5 * time.Minute), fixed.Add(10 * time.Minute)},
		{"one day", secs(24 * time.Hour), false, fixed.Add(-5 * time.Minute), fixed.Add(-5*time.Minute + 24*time.Hour)},
		{"longer than the signing duration", secs(365 * 24 * time.Hour), false, fixed.Add(-5 * time.Minute), fixed.Add(-5*time.Minute + 30*24*time.Hour)},
		{"capped at the CA", nil, true, fixed.Add(-5 * time.Minute), fixed.Add(47*time.Hour + 5*time.Minute)},
	}
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	for i, tc := range tests {
		name := "dur-" + string(rune('a'+i))
		var in *certv1.CertificateSigningRequest
		if tc.serving {
			in, _ = newCSR(t, name, certificates.SignerKubeletServing, node, nil, []net.IP{net.IPv4(10, 0, 0, 1)},
				certv1.UsageDigitalSignature, certv1.UsageServerAuth)
		} else {
			in, _ = userCSR(t, name)
		}
		in.Spec.ExpirationSeconds = tc.expiration
		create(t, e.admin, in)
		approve(t, e.admin, name)
		_, cert := waitIssued(t, e.admin, name)
		if !cert.NotBefore.Equal(tc.wantNotBefore) || !cert.NotAfter.Equal(tc.wantNotAfter) {
			t.Errorf("%s: validity %v – %v, want %v – %v", tc.name, cert.NotBefore, cert.NotAfter, tc.wantNotBefore, tc.wantNotAfter)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	s := func(v int32) *int32 { return &v }
	max := 24 * time.Hour
	tests := []struct {
		in   *int32
		want time.Duration
	}{
		{nil, max},
		{s(60), 10 * time.Minute},
		{s(600), 10 * time.Minute},
		{s(3600), time.Hour},
		{s(86400), max},
		{s(1 << 30), max},
	}
	for _, tc := range tests {
		if got := controller.Duration(tc.in, max); got != tc.want {
			t.Errorf("Duration(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
