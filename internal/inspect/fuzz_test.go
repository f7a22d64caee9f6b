package inspect

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unicode"
)

// addFixtureSeeds adds every fixture file, and a few mangled forms, as seeds.
func addFixtureSeeds(f *testing.F) {
	f.Helper()
	err := filepath.Walk(filepath.Join("testdata", "fixtures"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(bytes.ReplaceAll(data, []byte("CERTIFICATE"), []byte("NEW CERTIFICATE REQUEST")))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	addFixtureSeeds(f)
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("apiVersion: v1\nkind: Config\nclusters: []\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add([]byte("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: x\nspec:\n  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K\n  usages: [client auth]\n"))
	f.Add([]byte("kind: CertificateSigningRequest\nspec:\n  request: |\n    -----BEGIN CERTIFICATE REQUEST-----\n"))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse(data)
		// In a directory walk, a file with one of kubeadm's names that does
		// not parse, or holds no certificate, is an error finding (L00, or
		// L11 for a CertificateSigningRequest object), never skipped.
		const name = "pki/apiserver.crt"
		w := &set{}
		w.addData(name, name, 0o644, true, "", bytes.Clone(data), true)
		rep := w.lint(Context{Now: now})
		reported := slices.ContainsFunc(rep.Findings, func(f Finding) bool {
			return f.Severity == SeverityError && f.Source == name && f.Message != ""
		})
		if err != nil && !reported {
			t.Fatalf("walked %s failing with %v has no error finding: %+v", name, err, rep.Findings)
		}
		if err == nil && !slices.ContainsFunc(objs, func(o Object) bool { return o.Kind == KindCertificate }) && !reported {
			t.Fatalf("walked %s holding no certificate has no error finding: %+v", name, rep.Findings)
		}

		// What Go's DER parser takes, Parse takes too.
		if certs, derErr := x509.ParseCertificates(data); derErr == nil && len(certs) > 0 && !bytes.Contains(data, pemBegin) && err != nil {
			t.Fatalf("Parse refuses %d DER certificates that crypto/x509 parses: %v", len(certs), err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if objs != nil {
				t.Fatalf("Parse returned %d objects with error %v", len(objs), err)
			}
			return
		}
		if len(objs) == 0 {
			t.Fatal("Parse returned no objects and no error")
		}
		for _, o := range objs {
			ok := false
			switch o.Kind {
			case KindCertificate:
				ok = o.Certificate != nil
			case KindCSR:
				ok = o.CSR != nil
			case KindPrivateKey:
				ok = o.PublicKey != nil || o.Encrypted
			case KindPublicKey:
				ok = o.PublicKey != nil
			case KindKubeconfig:
				ok = o.Kubeconfig != nil
			case KindCSRObject:
				ok = o.CSRObject != nil
			}
			if !ok {
				t.Fatalf("object of kind %q lacks its value: %+v", o.Kind, o)
			}
		}
		// DER is parsed byte for byte: the certificates of a DER input are
		// all of it, nothing trimmed.
		var raw []byte
		for _, o := range objs {
			if o.Kind == KindCertificate && o.Format == "DER" {
				raw = append(raw, o.Certificate.Raw...)
			}
		}
		if raw != nil && !bytes.Equal(raw, data) {
			t.Fatalf("DER certificates of %d bytes parsed from %d bytes of input", len(raw), len(data))
		}
		// Describing and printing what parsed must not fail or panic, and
		// text output carries no control characters but newlines.
		s := &set{}
		s.addData("fuzz", "", 0, false, "", bytes.Clone(data), false)
		var out bytes.Buffer
		if err := s.report(now).WriteText(&out); err != nil {
			t.Fatal(err)
		}
		for _, r := range out.String() {
			if r != '\n' && unicode.IsControl(r) {
				t.Fatalf("text output carries control character %U:\n%q", r, out.String())
			}
		}
		_ = s.lint(Context{Now: now})
	})
}

func FuzzParseManifest(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "fixtures", "manifests", "kube-apiserver.yaml")); err == nil {
		f.Add(data)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-apiserver\n    command: [kube-apiserver, --tls-cert-file=/a.crt, --tls-private-key-file, /a.key, --client-ca-file=]\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n    command: [/usr/local/bin/etcd]\n    args: [--cert-file, --key-file=/k]\n"))
	f.Add([]byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ntlsCertFile: /c\nauthentication:\n  x509:\n    clientCAFile: /ca\n"))
	f.Add([]byte("kind: Pod\nspec: []\n"))
	f.Add([]byte("{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"kube-scheduler\",\"args\":[\"--kubeconfig\"]}]}}"))
	f.Add([]byte("a: &a [*a, *a]\nkind: Pod\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if m.Component == "" || (m.Kind != "Pod" && m.Kind != "KubeletConfiguration") {
			t.Fatalf("manifest without component or kind: %+v", m)
		}
		for _, r := range m.References {
			if r.Path == "" || r.Use == "" || r.Flag == "" {
				t.Fatalf("incomplete reference %+v", r)
			}
			if _, ok := componentFlags[m.Component][r.Flag]; !ok {
				t.Fatalf("reference %+v by a flag %s does not have", r, m.Component)
			}
		}
	})
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"jane", "jane\x1b[2J", "a\u202eb", "\xff\xfe", "tab\there", "\u0085", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := escape(s)
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar && !bytes.ContainsRune([]byte(s), unicode.ReplacementChar) {
				t.Fatalf("escape(%q) = %q keeps %U", s, got, r)
			}
		}
		if escape(got) != got {
			t.Fatalf("escape is not idempotent on %q: %q then %q", s, got, escape(got))
		}
	})
}
