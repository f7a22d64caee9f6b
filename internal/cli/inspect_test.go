package cli

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// runInspectCLI runs the root command with args and stdin and returns
// stdout, stderr and the exit code.
func runInspectCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	c.SetArgs(args)
	err := c.ExecuteContext(t.Context())
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

// inspectTestPKI writes a small PKI into a fresh folder: the cluster CA,
// the kube-apiserver certificate and a user jane.
func inspectTestPKI(t *testing.T) (dir string, ca *pki.CA) {
	t.Helper()
	dir = t.TempDir()
	ca = pkitest.NewCA(t, "kubernetes")
	pkitest.WritePair(t, dir, "ca", ca.Cert, ca.Key)
	api, apiKey := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject: pkix.Name{CommonName: "kube-apiserver"},
		SANs: pki.SANs{
			DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("10.0.0.10")},
		},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	pkitest.WritePair(t, dir, "apiserver", api, apiKey)
	jane, janeKey := pkitest.ClientCert(t, ca, "jane", "dev")
	pkitest.WritePair(t, dir, "jane", jane, janeKey)
	return dir, ca
}

func TestInspectCommand(t *testing.T) {
	t.Parallel()
	dir, _ := inspectTestPKI(t)
	janeCrt, err := os.ReadFile(filepath.Join(dir, "jane.crt"))
	if err != nil {
		t.Fatal(err)
	}
	janeKey, err := os.ReadFile(filepath.Join(dir, "jane.key"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "..", filepath.Base(dir)+"-garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("folder as text", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runInspectCLI(t, "", "inspect", dir)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		for _, want := range []string{
			filepath.Join(dir, "apiserver.crt") + ": certificate",
			"Role:               kube-apiserver serving certificate",
			"Signed by:          " + filepath.Join(dir, "ca.crt"),
			"Identity:           user jane, groups dev",
			"Role:               cluster CA",
			"Certificate:        " + filepath.Join(dir, "jane.crt"),
			"Mode:               0600",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("never prints private material", func(t *testing.T) {
		t.Parallel()
		for _, format := range []string{"text", "json", "yaml"} {
			out, _, code := runInspectCLI(t, string(janeKey), "inspect", "-o", format, "-")
			if code != 0 {
				t.Fatalf("-o %s: exit %d", format, code)
			}
			body := strings.Split(strings.TrimSpace(string(janeKey)), "\n")
			for _, line := range body[1 : len(body)-1] {
				if strings.Contains(out, line) {
					t.Fatalf("-o %s output carries the private key line %q", format, line)
				}
			}
			if !strings.Contains(out, "ECDSA") {
				t.Errorf("-o %s output lacks the key algorithm:\n%s", format, out)
			}
		}
	})
	t.Run("stdin as JSON", func(t *testing.T) {
		t.Parallel()
		out, _, code := runInspectCLI(t, string(janeCrt), "inspect", "-", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var rep inspect.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if rep.APIVersion != inspect.APIVersion || rep.Kind != inspect.ReportKind || len(rep.Items) != 1 {
			t.Fatalf("report %s/%s with %d items, want %s/%s with 1", rep.APIVersion, rep.Kind, len(rep.Items), inspect.APIVersion, inspect.ReportKind)
		}
		c := rep.Items[0].Certificate
		if c == nil || c.RoleID != inspect.RoleUser || c.Identity.User != "jane" || c.Status != "valid" || c.NotAfter.Before(time.Now()) {
			t.Errorf("certificate %+v, want a valid user certificate for jane", c)
		}
	})
	t.Run("unparsable file exits 1", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runInspectCLI(t, "", "inspect", garbage, filepath.Join(dir, "ca.crt"))
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(out, garbage+": error:") || !strings.Contains(out, "Role:               cluster CA") {
			t.Errorf("output lacks the error line or the good file:\n%s", out)
		}
		if !strings.Contains(errOut, "could not be read or parsed") {
			t.Errorf("stderr %q lacks the summary", errOut)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no arguments", []string{"inspect"}, 2},
		{"unknown output", []string{"inspect", "-o", "table", dir}, 2},
		{"manifest with paths", []string{"inspect", "--manifest", "x.yaml", dir}, 2},
		{"missing path", []string{"inspect", filepath.Join(dir, "absent.crt")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runInspectCLI(t, "", tc.args...)
			if code != tc.code || out != "" || errOut == "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout and a message", code, out, errOut, tc.code)
			}
		})
	}
}

func TestInspectManifestCommand(t *testing.T) {
	t.Parallel()
	dir, _ := inspectTestPKI(t)
	write := func(name, args string) string {
		p := filepath.Join(t.TempDir(), name)
		pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n" + args
		if err := os.WriteFile(p, []byte(pod), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "    - --client-ca-file="+filepath.Join(dir, "ca.crt")+"\n    - --tls-cert-file="+filepath.Join(dir, "apiserver.crt")+"\n    - --tls-private-key-file="+filepath.Join(dir, "apiserver.key")+"\n")
	bad := write("bad.yaml", "    - --client-ca-file="+filepath.Join(dir, "ca.crt")+"\n    - --tls-cert-file="+filepath.Join(dir, "apiserver.crt")+"\n    - --tls-private-key-file="+filepath.Join(dir, "jane.key")+"\n")

	out, errOut, code := runInspectCLI(t, "", "inspect", "--manifest", good)
	if code != 0 {
		t.Fatalf("good manifest: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Pod", "--tls-cert-file " + filepath.Join(dir, "apiserver.crt") + ": certificate", "no findings"} {
		if !strings.Contains(out, want) {
			t.Errorf("good manifest output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runInspectCLI(t, "", "inspect", "--manifest", bad, "-o", "json")
	if code != 1 {
		t.Fatalf("bad manifest: exit %d, want 1", code)
	}
	var rep inspect.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Manifest == nil || rep.Manifest.Component != "kube-apiserver" || len(rep.Findings) != 1 || rep.Findings[0].Rule != inspect.RuleKeyMismatch {
		t.Errorf("manifest %+v findings %+v, want one L22 for kube-apiserver", rep.Manifest, rep.Findings)
	}
}
