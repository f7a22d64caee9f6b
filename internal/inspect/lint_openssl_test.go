package inspect

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lintRules lints dir and returns "rule source" strings, sorted.
func lintRules(t *testing.T, paths ...string) []string {
	t.Helper()
	rep, err := Lint(paths, LintOptions{})
	if err != nil {
		t.Fatalf("Lint(%q) = %v", paths, err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Rule)
		t.Logf("%s %s %s: %s", f.Severity, f.Rule, f.Source, f.Message)
	}
	slices.Sort(got)
	return slices.Compact(got)
}

func TestLintGuideCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(g *guide)
		want   []string
	}{
		{name: "correct", break_: func(*guide) {}, want: nil},
		{name: "upper-case kubelet CN", want: []string{RuleNodeName}, break_: func(g *guide) {
			g.sign("kubelet-node01", "ca", "/O=system:nodes/CN=SYSTEM:NODE:NODE01", extClient)
		}},
		{name: "kubelet group misspelled", want: []string{RuleNodeGroup}, break_: func(g *guide) {
			g.sign("kubelet-node01", "ca", "/O=system:node/CN=system:node:node01", extClient)
		}},
		{name: "user certificate with server auth", want: []string{RuleUsageRole}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=dev/CN=jane", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
		}},
		{name: "apiserver certificate with empty IP SAN list", want: []string{RuleAPIServerDefaultNames}, break_: func(g *guide) {
			g.sign("apiserver", "ca", "/CN=kube-apiserver", extServer+"subjectAltName=DNS:cp1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n")
		}},
		{name: "apiserver certificate with IP in a DNS SAN", want: []string{RuleIPInDNS}, break_: func(g *guide) {
			g.sign("apiserver", "ca", "/CN=kube-apiserver", extServer+"subjectAltName=DNS:10.0.0.10,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1\n")
		}},
		{name: "serving certificate without server auth", want: []string{RuleUsageRole}, break_: func(g *guide) {
			g.sign("apiserver", "ca", "/CN=kube-apiserver", extClient+apiSANs)
		}},
		{name: "world-readable key", want: []string{RuleKeyMode}, break_: func(g *guide) {
			g.chmod("apiserver.key", 0o644)
		}},
		{name: "self-signed leaf made with -signkey", want: []string{RuleSelfSignedLeaf}, break_: func(g *guide) {
			g.sign("jane", "", "/O=dev/CN=jane", extClient, "-signkey", "jane.key")
		}},
		{name: "key that does not match its certificate", want: []string{RuleKeyMismatch}, break_: func(g *guide) {
			g.key("jane.key")
		}},
		{name: "v1 leaf without extensions", want: []string{RuleLeafNoConstraints}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=dev/CN=jane", "")
		}},
		{name: "leaf with CA:TRUE", want: []string{RuleLeafIsCA}, break_: func(g *guide) {
			g.sign("apiserver", "ca", "/CN=kube-apiserver", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"+apiSANs)
		}},
		{name: "certificate signed by another CA", want: []string{RuleWrongCA}, break_: func(g *guide) {
			g.ca("front-proxy-ca", "front-proxy-ca")
			g.sign("apiserver", "front-proxy-ca", "/CN=kube-apiserver", extServer+apiSANs)
		}},
		{name: "SHA-1 signature", want: []string{RuleWeakCrypto}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=dev/CN=jane", extClient, "-sha1")
		}},
		{name: "serial with little entropy", want: []string{RuleSerial}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=dev/CN=jane", extClient, "-set_serial", "01")
		}},
		{name: "serial used twice", want: []string{RuleDuplicateSerial}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=dev/CN=jane", extClient, "-set_serial", "0x5a17e5e0c0ffee1234567890")
			g.sign("kubelet-node01", "ca", "/O=system:nodes/CN=system:node:node01", extClient, "-set_serial", "0x5a17e5e0c0ffee1234567890")
		}},
		{name: "system:masters on a user", want: []string{RuleMasters}, break_: func(g *guide) {
			g.sign("jane", "ca", "/O=system:masters/CN=jane", extClient)
		}},
		{name: "kubelet client of apiserver without an authorised group", want: []string{RuleKubeletClientGroup}, break_: func(g *guide) {
			g.sign("apiserver-kubelet-client", "ca", "/CN=kube-apiserver-kubelet-client", extClient)
		}},
		{name: "request written with -newhdr", want: []string{RuleCSRPEMType}, break_: func(g *guide) {
			g.run("req", "-new", "-newhdr", "-key", "jane.key", "-subj", "/O=dev/CN=jane", "-out", "jane.csr")
		}},
		{name: "front-proxy client signed by the cluster CA", want: []string{RuleFrontProxyCA}, break_: func(g *guide) {
			g.ca("front-proxy-ca", "front-proxy-ca")
			g.leaf("front-proxy-client", "ca", "/CN=front-proxy-client", extClient)
		}},
		{name: "CA without keyCertSign", want: []string{RuleCANotCA}, break_: func(g *guide) {
			g.write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyEncipherment\n", 0o644)
			g.run("req", "-new", "-key", "ca.key", "-subj", "/CN=kubernetes", "-out", "ca.csr")
			g.run("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", "3650", "-extfile", "ca.ext", "-out", "ca.crt")
			g.cleanup("ca.ext", "ca.csr")
			for _, leaf := range []string{"apiserver", "apiserver-kubelet-client", "kubelet-node01", "jane"} {
				g.cleanup(leaf+".crt", leaf+".key")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGuide(t)
			g.cluster()
			tc.break_(g)
			got := lintRules(t, g.dir)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lint rules (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLintGuideCAWrongSignKey builds the cluster CA the way a guide gets
// wrong: the CA certificate is made with -signkey of another key than
// ca.key. Only the CA pair is in the folder, so the one finding is that
// ca.key does not match ca.crt.
func TestLintGuideCAWrongSignKey(t *testing.T) {
	t.Parallel()
	g := newGuide(t)
	g.key("ca.key")
	g.key("other.key")
	g.write("ca.ext", caExt, 0o644)
	g.run("req", "-new", "-key", "ca.key", "-subj", "/CN=kubernetes", "-out", "ca.csr")
	g.run("x509", "-req", "-in", "ca.csr", "-signkey", "other.key", "-days", "3650", "-extfile", "ca.ext", "-out", "ca.crt")
	g.cleanup("ca.ext", "ca.csr", "other.key")
	if diff := cmp.Diff([]string{RuleKeyMismatch}, lintRules(t, g.dir)); diff != "" {
		t.Errorf("lint rules (-want +got):\n%s", diff)
	}
}

func TestLintGuideExpiry(t *testing.T) {
	t.Parallel()
	g := newGuide(t)
	g.cluster()
	for _, tc := range []struct {
		name  string
		shift time.Duration
		want  []string
	}{
		{"in date", 0, nil},
		{"expiring within a month", 350 * 24 * time.Hour, []string{RuleExpiringSoon}},
		{"expired", 400 * 24 * time.Hour, []string{RuleValidity}},
		{"not yet valid", -24 * time.Hour, []string{RuleValidity}},
	} {
		rep, err := Lint([]string{g.dir}, LintOptions{Context: Context{Now: time.Now().Add(tc.shift)}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.Rule)
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: lint rules (-want +got):\n%s", tc.name, diff)
		}
	}
	_ = os.Remove
}
