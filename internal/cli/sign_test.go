package cli

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

func runOpenSSL(t *testing.T, openssl string, args ...string) string {
	t.Helper()
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestOpenSSLJobs runs ca new, key new, csr new and sign on keys and
// requests made by the real openssl, and checks the results with openssl.
func TestOpenSSLJobs(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }

	if _, errOut, code := execPKI(t, "ca", "new", "--common-name", "test-root", "--cert-out", p("ca.crt"), "--key-out", p("ca.key")); code != 0 {
		t.Fatalf("ca new: %s", errOut)
	}
	text := runOpenSSL(t, openssl, "x509", "-noout", "-text", "-in", p("ca.crt"))
	for _, want := range []string{"CA:TRUE", "Certificate Sign", "DNS:test-root", "Subject: CN = test-root"} {
		if !strings.Contains(text, want) {
			t.Errorf("ca.crt lacks %q", want)
		}
	}
	if _, errOut, code := execPKI(t, "ca", "new", "--cert-out", p("ca.crt"), "--key-out", p("ca.key")); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("ca new over existing files: exit %d, %q", code, errOut)
	}

	// Keys from openssl genrsa (PKCS#1 or PKCS#8 depending on version),
	// genpkey EC (PKCS#8) and ec (SEC1), and from key new.
	runOpenSSL(t, openssl, "genrsa", "-out", p("rsa.key"), "2048")
	runOpenSSL(t, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("ec8.key"))
	runOpenSSL(t, openssl, "ec", "-in", p("ec8.key"), "-out", p("sec1.key"))
	runOpenSSL(t, openssl, "rsa", "-in", p("rsa.key"), "-traditional", "-out", p("rsa1.key"))
	out, errOut, code := execPKI(t, "key", "new", "--algorithm", "ecdsa-p384", "-o", p("ours.key"), "--pub-out", p("ours.pub"))
	if code != 0 || !strings.Contains(out, p("ours.key")) {
		t.Fatalf("key new: exit %d %s", code, errOut)
	}
	for _, f := range []string{"ours.key", "ours.pub"} {
		if fi, _ := os.Stat(p(f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	runOpenSSL(t, openssl, "pkey", "-noout", "-in", p("ours.key"))
	runOpenSSL(t, openssl, "pkey", "-pubin", "-noout", "-in", p("ours.pub"))

	for _, key := range []string{"rsa.key", "rsa1.key", "ec8.key", "sec1.key", "ours.key"} {
		t.Run(key, func(t *testing.T) {
			csr := p(key + ".csr")
			_, errOut, code := execCommand(t, newCSRNewCommand, "--key", p(key), "--subject", "/CN=jane/O=dev/O=ops", "--san", "DNS:jane.example.com", "--san", "IP:10.1.2.3", "-o", csr)
			if code != 0 {
				t.Fatalf("csr new --key %s: %s", key, errOut)
			}
			v := runOpenSSL(t, openssl, "req", "-verify", "-noout", "-text", "-in", csr)
			if !strings.Contains(v, "DNS:jane.example.com, IP Address:10.1.2.3") {
				t.Errorf("openssl req -text lacks the SANs:\n%s", v)
			}
			crt := p(key + ".crt")
			_, errOut, code = execPKI(t, "sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", csr, "--usages", "digital signature,key encipherment,client auth", "--duration", "24h", "-o", crt)
			if code != 0 {
				t.Fatalf("sign: %s", errOut)
			}
			if v := runOpenSSL(t, openssl, "verify", "-CAfile", p("ca.crt"), crt); !strings.Contains(v, ": OK") {
				t.Errorf("openssl verify: %s", v)
			}
			c, err := pki.ReadCertificateFile(crt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"dev", "ops"}, c.Subject.Organization); diff != "" || c.Subject.CommonName != "jane" {
				t.Errorf("signed subject %s (-want +got O):\n%s", c.Subject, diff)
			}
			if c.NotAfter.Sub(c.NotBefore).Hours() < 24 || c.NotAfter.Sub(c.NotBefore).Hours() > 24.2 {
				t.Errorf("validity %s to %s, want 24h (+5m backdate)", c.NotBefore, c.NotAfter)
			}
		})
	}

	// An openssl-made request with a SAN section and extensions: only
	// subject and SANs are copied, never CA:TRUE or its usages.
	cnf := p("req.cnf")
	os.WriteFile(cnf, []byte(`[req]
distinguished_name = dn
req_extensions = ext
prompt = no
[dn]
CN = web.example.com
O = web
[ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
extendedKeyUsage = codeSigning
subjectAltName = DNS:web.example.com,DNS:www.example.com,IP:192.0.2.7
`), 0o600)
	runOpenSSL(t, openssl, "req", "-new", "-key", p("rsa.key"), "-config", cnf, "-out", p("web.csr"))
	out, errOut, code = execPKI(t, "sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", p("web.csr"), "--usages", "digital signature,key encipherment,server auth")
	if code != 0 {
		t.Fatalf("sign web.csr: %s", errOut)
	}
	os.WriteFile(p("web.crt"), []byte(out), 0o644)
	text = runOpenSSL(t, openssl, "x509", "-noout", "-text", "-in", p("web.crt"))
	for _, want := range []string{"CA:FALSE", "DNS:web.example.com, DNS:www.example.com, IP Address:192.0.2.7", "TLS Web Server Authentication", "Digital Signature, Key Encipherment"} {
		if !strings.Contains(text, want) {
			t.Errorf("web.crt lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"CA:TRUE", "Code Signing", "Certificate Sign"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("web.crt copied %q from the request's extensions", unwanted)
		}
	}
	runOpenSSL(t, openssl, "verify", "-CAfile", p("ca.crt"), "-purpose", "sslserver", p("web.crt"))
}

// TestOpenSSLJobsBadInput gives each command a wrong or damaged input and
// checks the exit code, that the message names the file, and that no
// output file appears.
func TestOpenSSLJobsBadInput(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if _, errOut, code := execPKI(t, "ca", "new", "--cert-out", p("ca.crt"), "--key-out", p("ca.key")); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := execPKI(t, "ca", "new", "--cert-out", p("other.crt"), "--key-out", p("other.key")); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := execPKI(t, "key", "new", "-o", p("good.key")); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := execCommand(t, newCSRNewCommand, "--key", p("good.key"), "--subject", "/CN=x", "-o", p("good.csr")); code != 0 {
		t.Fatal(errOut)
	}
	os.WriteFile(p("garbled.key"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600)
	runOpenSSL(t, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret", "-out", p("encrypted.key"))
	os.WriteFile(p("world.key"), mustRead(t, p("ca.key")), 0o644)

	tests := []struct {
		name     string
		csrNew   bool
		args     []string
		wantCode int
		wantText []string
	}{
		{"garbled key", true, []string{"--key", p("garbled.key"), "--subject", "/CN=x", "-o", p("out.csr")}, 1, []string{"garbled.key"}},
		{"certificate as key", true, []string{"--key", p("ca.crt"), "--subject", "/CN=x", "-o", p("out.csr")}, 1, []string{"ca.crt", "not the certificate"}},
		{"encrypted key", true, []string{"--key", p("encrypted.key"), "--subject", "/CN=x", "-o", p("out.csr")}, 1, []string{"encrypted.key", "encrypted", "openssl pkey"}},
		{"missing key", true, []string{"--key", p("nope.key"), "--subject", "/CN=x", "-o", p("out.csr")}, 1, []string{"nope.key"}},
		{"bad subject", true, []string{"--key", p("good.key"), "--subject", "CN=x", "-o", p("out.csr")}, 2, []string{"--subject"}},
		{"bad SAN", true, []string{"--key", p("good.key"), "--subject", "/CN=x", "--san", "DNS:-bad-", "-o", p("out.csr")}, 2, []string{"--san"}},
		{"mismatched CA key", false, []string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("other.key"), "--csr", p("good.csr"), "-o", p("out.crt")}, 1, []string{"ca.crt", "other.key"}},
		{"missing CA", false, []string{"sign", "--ca-cert", p("missing.crt"), "--ca-key", p("ca.key"), "--csr", p("good.csr"), "-o", p("out.crt")}, 1, []string{"missing.crt"}},
		{"world-readable CA key", false, []string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("world.key"), "--csr", p("good.csr"), "-o", p("out.crt")}, 1, []string{"world.key", "chmod 600"}},
		{"key as CSR", false, []string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", p("good.key"), "-o", p("out.crt")}, 1, []string{"good.key"}},
		{"unknown usage", false, []string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", p("good.csr"), "--usages", "client auth,cert sign", "-o", p("out.crt")}, 2, []string{"cert sign"}},
		{"missing flags", false, []string{"sign", "--csr", p("good.csr")}, 2, []string{"--ca-cert, --ca-key"}},
		{"unwritable output", false, []string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", p("good.csr"), "-o", "/sys/kubepki-test.crt"}, 1, []string{"/sys/kubepki-test.crt"}},
		{"key new without -o", false, []string{"key", "new"}, 2, []string{"-o FILE"}},
		{"key new over a file", false, []string{"key", "new", "-o", p("good.key")}, 1, []string{"good.key", "--force"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var errOut string
			var code int
			if tc.csrNew {
				_, errOut, code = execCommand(t, newCSRNewCommand, tc.args...)
			} else {
				_, errOut, code = execPKI(t, tc.args...)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.wantCode, errOut)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
	for _, f := range []string{"out.csr", "out.crt"} {
		if _, err := os.Stat(p(f)); err == nil {
			t.Errorf("%s was written by a failing command", f)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseUsages(f *testing.F) {
	f.Add("digital signature,key encipherment,client auth")
	f.Add("Server Auth, code signing,,email protection")
	f.Add("cert sign")
	f.Fuzz(func(t *testing.T, s string) {
		ku, eku, err := parseUsages(strings.Split(s, ","))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if ku&^(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment) != 0 {
			t.Fatalf("parseUsages(%q) gave key usage %v beyond signature and encipherment", s, ku)
		}
		for _, u := range eku {
			if u == x509.ExtKeyUsageAny {
				t.Fatalf("parseUsages(%q) gave the any usage", s)
			}
		}
	})
}

// TestCSRNewThroughRoot runs "kubepki csr new" as users type it, to stdout.
func TestCSRNewThroughRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	if _, errOut, code := execPKI(t, "key", "new", "-o", key); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := execPKI(t, "csr", "new", "--key", key, "--subject", "/CN=system:node:w1/O=system:nodes", "--san", "w1,10.0.0.21")
	if code != 0 {
		t.Fatalf("csr new exit %d: %s", code, errOut)
	}
	csr, err := pki.ParseCSRPEM([]byte(out))
	if err != nil {
		t.Fatalf("csr new stdout is not a request: %v\n%s", err, out)
	}
	if csr.Subject.CommonName != "system:node:w1" || len(csr.DNSNames) != 1 || len(csr.IPAddresses) != 1 {
		t.Errorf("request subject %s DNS %q IPs %v", csr.Subject, csr.DNSNames, csr.IPAddresses)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("request signature: %v", err)
	}
}

// TestSignWarnsOfSystemMasters: signing a client certificate for group
// system:masters goes on, as an administrator may mean it, but warns as
// lint's L13 would afterwards; other groups and server certificates get
// no warning.
func TestSignWarnsOfSystemMasters(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if _, errOut, code := execPKI(t, "ca", "new", "--cert-out", p("ca.crt"), "--key-out", p("ca.key")); code != 0 {
		t.Fatal(errOut)
	}
	runOpenSSL(t, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("k.key"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("k.key"), "-subj", "/CN=eve/O=dev/O=system:masters", "-out", p("masters.csr"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("k.key"), "-subj", "/CN=jane/O=dev", "-out", p("dev.csr"))
	for _, tc := range []struct {
		name, csr, usages string
		warn              bool
	}{
		{"masters client", "masters.csr", "digital signature,client auth", true},
		{"dev client", "dev.csr", "digital signature,client auth", false},
		{"masters server only", "masters.csr", "digital signature,server auth", false},
	} {
		out := p(tc.name + ".crt")
		_, errOut, code := execPKI(t, "sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key"), "--csr", p(tc.csr), "--usages", tc.usages, "-o", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errOut)
		}
		if got := strings.Contains(errOut, "warning: "+p(tc.csr)+": group system:masters is a superuser"); got != tc.warn {
			t.Errorf("%s: stderr %q, want a system:masters warning: %v", tc.name, errOut, tc.warn)
		}
		runOpenSSL(t, openssl, "verify", "-CAfile", p("ca.crt"), out)
	}
}

// TestSignAppliesRequestPolicy: sign refuses what the Certificates API
// refuses in spec.request (two CNs, control characters), reads a request
// from standard input with --csr -, and says whether it created or
// replaced its output.
func TestSignAppliesRequestPolicy(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if out, errOut, code := execPKI(t, "ca", "new", "--cert-out", p("ca.crt"), "--key-out", p("ca.key")); code != 0 || out != "created  "+p("ca.crt")+"\ncreated  "+p("ca.key")+"\n" {
		t.Fatalf("ca new: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := execPKI(t, "key", "new", "-o", p("sa.key"), "--pub-out", p("sa.pub")); code != 0 || out != "created  "+p("sa.key")+"\ncreated  "+p("sa.pub")+"\n" {
		t.Fatalf("key new: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := execPKI(t, "key", "new", "-o", p("sa.key"), "--pub-out", p("sa.pub"), "--force"); code != 0 || out != "replaced  "+p("sa.key")+"\nreplaced  "+p("sa.pub")+"\n" {
		t.Fatalf("key new --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	runOpenSSL(t, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("k.key"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("k.key"), "-subj", "/CN=first/CN=second", "-out", p("two.csr"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("k.key"), "-subj", "/CN=evil\x1b[31m/O=dev", "-out", p("ctl.csr"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("k.key"), "-subj", "/CN=jane/O=dev", "-out", p("jane.csr"))
	sign := func(in string, args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		c := NewRootCommand(IOStreams{In: strings.NewReader(in), Out: &out, ErrOut: &errOut})
		c.SetArgs(append([]string{"sign", "--ca-cert", p("ca.crt"), "--ca-key", p("ca.key")}, args...))
		err := c.ExecuteContext(t.Context())
		if err != nil {
			errOut.WriteString("error: " + err.Error() + "\n")
		}
		return out.String(), errOut.String(), ExitCode(err)
	}
	for _, tc := range []struct{ csr, want string }{
		{"two.csr", "2 common names, at most one allowed"},
		{"ctl.csr", "contains control characters"},
	} {
		_, errOut, code := sign("", "--csr", p(tc.csr), "-o", p(tc.csr+".crt"))
		if code != 1 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, tc.csr) {
			t.Errorf("sign %s: exit %d, stderr %q; want exit 1 naming the file and %q", tc.csr, code, errOut, tc.want)
		}
		if _, err := os.Stat(p(tc.csr + ".crt")); err == nil {
			t.Errorf("sign %s wrote a certificate", tc.csr)
		}
	}

	// Standard input, PEM and DER, to stdout.
	pemReq := string(mustRead(t, p("jane.csr")))
	runOpenSSL(t, openssl, "req", "-in", p("jane.csr"), "-outform", "DER", "-out", p("jane.der"))
	for name, in := range map[string]string{"PEM": pemReq, "DER": string(mustRead(t, p("jane.der")))} {
		out, errOut, code := sign(in, "--csr", "-")
		if code != 0 {
			t.Fatalf("sign %s from stdin: exit %d: %s", name, code, errOut)
		}
		crt := p("stdin-" + name + ".crt")
		if err := os.WriteFile(crt, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		runOpenSSL(t, openssl, "verify", "-CAfile", p("ca.crt"), crt)
		if subj := runOpenSSL(t, openssl, "x509", "-in", crt, "-noout", "-subject", "-nameopt", "compat"); !strings.Contains(subj, "CN=jane") {
			t.Errorf("sign %s from stdin: subject %q", name, subj)
		}
	}
	if _, errOut, code := sign("not a request", "--csr", "-"); code != 1 || !strings.Contains(errOut, "standard input") {
		t.Errorf("sign of garbage on stdin: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := sign(strings.Repeat("A", maxSignInput+1), "--csr", "-"); code != 1 || !strings.Contains(errOut, "more than") {
		t.Errorf("sign of an oversized stdin: exit %d, stderr %q", code, errOut)
	}

	// An Ed25519 request gets no key encipherment, which its key cannot do.
	runOpenSSL(t, openssl, "genpkey", "-algorithm", "ed25519", "-out", p("ed.key"))
	runOpenSSL(t, openssl, "req", "-new", "-key", p("ed.key"), "-subj", "/CN=ed", "-out", p("ed.csr"))
	_, errOut, code := sign("", "--csr", p("ed.csr"), "-o", p("ed.crt"))
	if code != 0 || !strings.Contains(errOut, "key encipherment left out") {
		t.Errorf("sign of an Ed25519 request: exit %d, stderr %q; want a warning that key encipherment is left out", code, errOut)
	}
	if text := runOpenSSL(t, openssl, "x509", "-in", p("ed.crt"), "-noout", "-ext", "keyUsage"); strings.Contains(text, "Key Encipherment") || !strings.Contains(text, "Digital Signature") {
		t.Errorf("Ed25519 certificate key usage: %s", text)
	}

	// The status line: created, then replaced with --force, aligned as init's.
	out, errOut, code := sign("", "--csr", p("jane.csr"), "-o", p("jane.crt"))
	if code != 0 || out != "created  "+p("jane.crt")+"\n" || errOut != "" {
		t.Errorf("first sign: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = sign("", "--csr", p("jane.csr"), "-o", p("jane.crt"), "--force")
	if code != 0 || out != "replaced  "+p("jane.crt")+"\n" {
		t.Errorf("sign --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
