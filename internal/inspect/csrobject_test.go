package inspect

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/pki"
)

func TestLintCSRObject(t *testing.T) {
	t.Parallel()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	request := func(subject pkix.Name, sans pki.SANs) []byte {
		der, err := pki.CreateCSR(key, subject, sans)
		if err != nil {
			t.Fatal(err)
		}
		return pki.MarshalCSRPEM(der)
	}
	jane := request(pkix.Name{CommonName: "jane", Organization: []string{"dev"}}, pki.SANs{})
	masters := request(pkix.Name{CommonName: "jane", Organization: []string{"system:masters"}}, pki.SANs{})
	node := request(pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}, pki.SANs{})
	newhdr := bytes.ReplaceAll(jane, []byte("CERTIFICATE REQUEST"), []byte("NEW CERTIFICATE REQUEST"))
	b64 := base64.StdEncoding.EncodeToString
	object := func(signer, usages, extra, req string) string {
		s := "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: jane\nspec:\n  request: " + req + "\n"
		if signer != "" {
			s += "  signerName: " + signer + "\n"
		}
		if usages != "" {
			s += "  usages: " + usages + "\n"
		}
		return s + extra
	}
	const client = "kubernetes.io/kube-apiserver-client"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"clean", object(client, "[client auth]", "", b64(jane)), nil},
		{"no signerName", object("", "[client auth]", "", b64(jane)), []string{RuleCSRObjectSigner}},
		{"legacy signer", object("kubernetes.io/legacy-unknown", "[client auth]", "", b64(jane)), []string{RuleCSRObjectLegacySigner}},
		{"usage spelled clientAuth", object(client, "[clientAuth]", "", b64(jane)), []string{RuleCSRObjectUsages}},
		{"no usages", object(client, "", "", b64(jane)), []string{RuleCSRObjectUsages}},
		{"short expiration", object(client, "[client auth]", "  expirationSeconds: 300\n", b64(jane)), []string{RuleCSRObjectExpiration}},
		{"raw PEM pasted into request", object(client, "[client auth]", "", "|\n    "+strings.ReplaceAll(strings.TrimSpace(string(jane)), "\n", "\n    ")), []string{RuleCSRObjectEncoding}},
		{"request header from -newhdr", object(client, "[client auth]", "", b64(newhdr)), []string{RuleCSRPEMType}},
		{"system:masters for the apiserver client signer", object(client, "[client auth]", "", b64(masters)), []string{RuleCSRObjectMasters}},
		{"kubelet client CSR asking for server auth", object("kubernetes.io/kube-apiserver-client-kubelet", "[digital signature, client auth, server auth]", "", b64(node)), []string{RuleCSRObjectSignerPolicy}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "csr.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Lint([]string{path}, LintOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				t.Logf("%s: %s", f.Rule, f.Message)
			}
			if diff := cmp.Diff(tc.want, rulesOf(rep.Findings)); diff != "" {
				t.Errorf("lint rules (-want +got):\n%s", diff)
			}
			// Inspect describes the object and the request inside.
			irep, err := Inspect([]string{path}, Options{Now: func() time.Time { return fixtureNow }})
			if err != nil {
				t.Fatal(err)
			}
			it := irep.Items[0]
			if tc.want == nil && (it.CSRObject == nil || it.CSRObject.Request == nil || it.CSRObject.Request.Identity.User != "jane" || it.CSRObject.Condition != "Pending") {
				t.Errorf("item %+v, want the object with jane's pending request", it)
			}
		})
	}
}
