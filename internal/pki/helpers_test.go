package pki

import (
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"testing"
)

// requireOpenSSL mirrors pkitest.RequireTool, which this package cannot
// import without a cycle.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("openssl is required in CI but is not on PATH: %v", err)
	}
	t.Skipf("SKIPPED: openssl not on PATH: %v", err)
	return ""
}

func subjectCN(cn string, orgs ...string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: orgs}
}
