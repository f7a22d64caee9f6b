package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/inspect"
)

// TestInspectManifestAPIServerFlags builds kube-apiserver's manifest from
// "certs flags kube-apiserver" plus an advertise address and a service
// range that apiserver.crt does not hold: inspect --manifest reports both,
// and the same settings given to inspect itself win over the manifest's.
func TestInspectManifestAPIServerFlags(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	flags, errOut, code := execPKI(t, "certs", "flags", "kube-apiserver", "--cert-dir", filepath.Join(dir, "pki"))
	if code != 0 {
		t.Fatalf("certs flags: exit %d: %s", code, errOut)
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.32.0\n    command:\n    - kube-apiserver\n")
	for _, f := range append(strings.Fields(flags), "--advertise-address=10.0.0.99", "--service-cluster-ip-range=10.100.0.0/16", "--service-node-port-range=30000-32767") {
		b.WriteString("    - " + f + "\n")
	}
	manifest := filepath.Join(dir, "kube-apiserver.yaml")
	if err := os.WriteFile(manifest, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{name: "the manifest's settings", code: 1, want: []string{inspect.RuleAPIServerDefaultNames, inspect.RuleAPIServerAddress}},
		{name: "inspect's flags win", args: []string{"--advertise-address", "10.0.0.10", "--service-cidr", "10.96.0.0/12"}, code: 0},
		{name: "inspect's service CIDR only", args: []string{"--service-cidr", "10.96.0.0/12"}, code: 1, want: []string{inspect.RuleAPIServerAddress}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runInspectCLI(t, "", append([]string{"inspect", "-o", "json", "--manifest", manifest}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errOut)
			}
			var rep inspect.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			var got []string
			for _, f := range rep.Findings {
				if !slices.Contains(got, f.Rule) {
					got = append(got, f.Rule)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules %q, want %q", got, tc.want)
			}
			if rep.Manifest == nil || rep.Manifest.AdvertiseAddress != "10.0.0.99" || rep.Manifest.ServiceClusterIPRange != "10.100.0.0/16" {
				t.Errorf("manifest = %+v, want advertise address 10.0.0.99 and range 10.100.0.0/16", rep.Manifest)
			}
		})
	}
}
