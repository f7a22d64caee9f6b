package inspect

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestIdentityOnlyForClients shows that inspect prints an Identity line
// only for certificates that can authenticate to kube-apiserver as a
// client: not for serving-only ones (apiserver.crt, kubelet serving
// certificates), nor for CAs.
func TestIdentityOnlyForClients(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "kubernetes")
	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	kubeletServing := leafTmpl("system:node:n1", []string{"system:nodes"}, server)
	kubeletServing.DNSNames = []string{"n1"}
	tests := []struct {
		name string
		cert *x509.Certificate
		want string // the Identity line, or "" for none
	}{
		{"kube-apiserver serving", signRaw(t, ca, leafTmpl("kube-apiserver", nil, server), nil), ""},
		{"kubelet serving", signRaw(t, ca, kubeletServing, nil), ""},
		{"unknown usage only", signRaw(t, ca, &x509.Certificate{Subject: leafTmpl("x", nil).Subject, UnknownExtKeyUsage: []asn1.ObjectIdentifier{{1, 2, 3}}}, nil), ""},
		{"client", signRaw(t, ca, leafTmpl("jane", []string{"dev"}, client), nil), "user jane, groups dev"},
		{"server and client", signRaw(t, ca, leafTmpl("cp1", nil, server, client), nil), "user cp1"},
		{"any usage", signRaw(t, ca, leafTmpl("bob", nil, x509.ExtKeyUsageAny), nil), "user bob"},
		{"no extended key usage", signRaw(t, ca, leafTmpl("carol", nil), nil), "user carol"},
		{"CA", ca.Cert, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cert.crt")
			if err := os.WriteFile(path, pki.MarshalCertificatePEM(tc.cert), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Inspect([]string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := rep.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			got := ""
			for line := range strings.Lines(out.String()) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Identity:"); ok {
					got = strings.TrimSpace(v)
				}
			}
			if got != tc.want {
				t.Errorf("Identity line %q, want %q; output:\n%s", got, tc.want, out.String())
			}
		})
	}
}
