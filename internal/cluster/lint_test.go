package cluster

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/inspect"
)

// TestInitPassesLint runs kubepki's own lint rules (internal/inspect) on
// every certificate init and a cluster file make: none may draw an error.
func TestInitPassesLint(t *testing.T) {
	t.Parallel()
	o := clusterFileOptions(t)
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	for certPath, caPath := range certFilesFor(t, p) {
		cert := readCert(t, certPath)
		ctx := inspect.Context{
			Now:                testStart,
			DNSDomain:          p.DNSDomain,
			APIServerAddresses: []string{"10.0.0.10", "k8s.example.com"},
			CA:                 readCert(t, caPath),
		}
		if rel, err := filepath.Rel(p.CertDir, certPath); err == nil && !strings.HasPrefix(rel, "..") {
			ctx.Path = filepath.ToSlash(rel)
		}
		for _, f := range inspect.LintCertificate(cert, ctx) {
			if f.Severity == inspect.SeverityError {
				t.Errorf("%s (%s): %s %s: %s", certPath, cert.Subject, f.Rule, f.Severity, f.Message)
			} else {
				t.Logf("%s: %s %s: %s", certPath, f.Rule, f.Severity, f.Message)
			}
		}
	}
}
