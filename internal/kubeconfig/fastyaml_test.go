package kubeconfig

import (
	"bytes"
	"testing"
)

// fastYAMLNames are names the direct encoder must either write exactly as
// clientcmd does or leave to clientcmd.
var fastYAMLNames = []string{
	"kubernetes", "system:node:cp1", "system:kube-controller-manager", "kubernetes-admin", "kubernetes-super-admin",
	"a b", "yes", "Yes", "NO", "on", "Off", "true", "null", "y", "n", "123", "1e3", "0x1F", "-x", "x:", "x: y", "@x", "x@y",
	"'", "\"", "~", "a#b", "a #b", "*a", "&a", "!a", "%a", "a,b", "[a", "{a", "a]", "?a", "a?", "|", ">", "`a",
	"a\tb", "ü", "0.5", ".5", "+1", "-", "---", "a-", ":a", "a/b", "2001-12-14", "=", "<<", ".inf", "e3", "a:b:", "",
}

// TestMarshalCertConfigMatchesClientcmd: the direct encoding equals
// clientcmd's byte for byte, for every name tried, and parses back to the
// same config.
func TestMarshalCertConfigMatchesClientcmd(t *testing.T) {
	t.Parallel()
	servers := []string{"https://10.0.0.10:6443", "https://cp.example.com:6443", "https://[fd00::10]:6443", "https://h:6443/a b"}
	ca, cert, key := []byte("-----BEGIN CERTIFICATE-----\nCA\n"), []byte("-----BEGIN CERTIFICATE-----\nLEAF\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nK\n")
	fast := 0
	for _, server := range servers {
		for _, cluster := range fastYAMLNames {
			for _, user := range []string{"system:node:cp1", cluster} {
				got, err := MarshalCertConfig(cluster, server, ca, user, cert, key)
				if err != nil {
					t.Fatalf("MarshalCertConfig(%q, %q, %q): %v", cluster, server, user, err)
				}
				want, err := Marshal(NewCertConfig(cluster, server, ca, user, cert, key))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("MarshalCertConfig(%q, %q, %q) =\n%s\nclientcmd writes\n%s", cluster, server, user, got, want)
				}
				if plainScalar(cluster) && plainScalar(user) && plainScalar(server) && plainScalar(ContextName(user, cluster)) {
					fast++
				}
			}
		}
	}
	if fast < 20 {
		t.Errorf("only %d combinations took the direct path; the test does not exercise it", fast)
	}
}

func TestPlainScalar(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"kubernetes": true, "system:node:cp1": true, "https://10.0.0.10:6443": true, "a@b": true,
		"": false, "yes": false, "ON": false, "1a": false, "a b": false, "a:": false, "-a": false, "a#b": false, "ü": false,
	} {
		if got := plainScalar(s); got != want {
			t.Errorf("plainScalar(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzMarshalCertConfig: whatever the names, the result is clientcmd's.
func FuzzMarshalCertConfig(f *testing.F) {
	f.Add("kubernetes", "https://10.0.0.10:6443", "system:node:cp1", []byte("CA"))
	f.Add("yes", "https://h:6443", "a b", []byte{})
	f.Add("x:", "h", "@u", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, cluster, server, user string, data []byte) {
		got, err := MarshalCertConfig(cluster, server, data, user, data, data)
		want, werr := Marshal(NewCertConfig(cluster, server, data, user, data, data))
		if (err == nil) != (werr == nil) {
			t.Fatalf("errors differ: %v vs %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("MarshalCertConfig(%q, %q, %q) =\n%s\nclientcmd writes\n%s", cluster, server, user, got, want)
		}
	})
}
