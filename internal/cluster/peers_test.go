package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// clusterFileOptions are options from a cluster file with two
// control-plane nodes, two workers, kube-proxy and two users.
func clusterFileOptions(t *testing.T) Options {
	t.Helper()
	f, err := ParseClusterFile([]byte(`
apiVersion: kubepki.io/v1alpha1
kind: Cluster
clusterName: prod
controlPlaneEndpoint: k8s.example.com
controlPlaneNodes:
- name: cp1
  ips: [10.0.0.10]
  dnsNames: [cp1.example.com]
- name: cp2
  ips: [10.0.0.11]
workerNodes:
- name: w1
  ips: [10.0.0.21, "fd00::21"]
  dnsNames: [w1.example.com]
- name: w2
users:
- name: jane
  groups: [dev, ops]
- name: ci-bot
`))
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t)
	f.Apply(&o)
	return o
}

// certFilesFor returns every certificate file of a run with the file of
// the CA that must verify it, extracting kubeconfig-embedded ones.
func certFilesFor(t *testing.T, p *Plan) map[string]string {
	t.Helper()
	out := map[string]string{}
	caFile := func(name string) string { return p.CertPath(p.CA(name).BaseName, certSuffix) }
	for _, ca := range p.CAs {
		out[p.CertPath(ca.BaseName, certSuffix)] = caFile(ca.Name)
	}
	for _, c := range p.Certs {
		out[p.CertPath(c.BaseName, certSuffix)] = caFile(c.CA)
	}
	tmp := t.TempDir()
	for _, k := range p.Kubeconfigs {
		cfg, err := kubeconfig.Read(p.KubeconfigPath(k.Name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(tmp, strings.ReplaceAll(k.Name, "/", "_")+".crt")
		if err := os.WriteFile(path, cfg.AuthInfos[k.CommonName].ClientCertificateData, 0o600); err != nil {
			t.Fatal(err)
		}
		out[path] = caFile(CAName)
		if k.CertBaseName != "" {
			out[p.CertPath(k.CertBaseName, certSuffix)] = caFile(CAName)
		}
	}
	return out
}

// TestOpenSSLVerifiesEverything runs the real openssl on every
// certificate init and a cluster file make: verify against the right CA
// (and not against another), and parse with x509 -text.
func TestOpenSSLVerifiesEverything(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	for _, tc := range []struct {
		name string
		opts func(*testing.T) Options
	}{
		{"kubeadm set ecdsa", func(t *testing.T) Options { return testOptions(t) }},
		{"kubeadm set rsa", func(t *testing.T) Options { o := testOptions(t); o.KeyAlgorithm = pki.RSA2048; return o }},
		{"cluster file", clusterFileOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts(t)
			o.Now = nil // openssl checks validity against the real clock
			p, err := NewPlan(o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			files := certFilesFor(t, p)
			if tc.name == "cluster file" && len(files) < 25 {
				t.Fatalf("only %d certificates to check", len(files))
			}
			for cert, ca := range files {
				out, err := exec.Command(openssl, "verify", "-CAfile", ca, cert).CombinedOutput()
				if err != nil || !strings.Contains(string(out), ": OK") {
					t.Errorf("openssl verify -CAfile %s %s: %v\n%s", ca, cert, err, out)
				}
				wrongCA := p.CertPath("front-proxy-ca", certSuffix)
				if ca == wrongCA {
					wrongCA = p.CertPath("ca", certSuffix)
				}
				if out, err := exec.Command(openssl, "verify", "-CAfile", wrongCA, cert).CombinedOutput(); err == nil {
					t.Errorf("openssl verify -CAfile %s %s accepted the wrong CA:\n%s", wrongCA, cert, out)
				}
				out, err = exec.Command(openssl, "x509", "-noout", "-text", "-in", cert).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "Digital Signature, Key Encipherment") {
					t.Errorf("openssl x509 -text -in %s: %v\n%s", cert, err, out)
				}
			}
			// Keys in every form parse with openssl too.
			for _, key := range []string{p.CertPath("ca", keySuffix), p.CertPath("sa", keySuffix), p.CertPath("etcd/peer", keySuffix)} {
				if out, err := exec.Command(openssl, "pkey", "-noout", "-in", key).CombinedOutput(); err != nil {
					t.Errorf("openssl pkey -in %s: %v\n%s", key, err, out)
				}
			}
			if out, err := exec.Command(openssl, "pkey", "-pubin", "-noout", "-in", p.CertPath("sa", ".pub")).CombinedOutput(); err != nil {
				t.Errorf("openssl pkey -pubin sa.pub: %v\n%s", err, out)
			}
		})
	}
}

// TestKubectlReadsEveryKubeconfig runs the real kubectl config view --raw
// and get-contexts on every kubeconfig written.
func TestKubectlReadsEveryKubeconfig(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	o := clusterFileOptions(t)
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, k := range p.Kubeconfigs {
		path := p.KubeconfigPath(k.Name)
		run := func(args ...string) string {
			cmd := exec.Command(kubectl, append(args, "--kubeconfig", path)...)
			cmd.Env = append(os.Environ(), "HOME="+home, "KUBECACHEDIR="+filepath.Join(home, "cache"), "KUBECONFIG=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s --kubeconfig %s: %v\n%s", strings.Join(args, " "), path, err, out)
			}
			return string(out)
		}
		view := run("config", "view", "--raw", "-o", "jsonpath={.users[0].user.client-certificate-data}|{.clusters[0].cluster.server}|{.current-context}")
		parts := strings.Split(view, "|")
		if len(parts) != 3 || parts[0] == "" {
			t.Fatalf("kubectl config view --raw of %s = %q", k.Name, view)
		}
		if parts[1] != k.Server || parts[2] != k.CommonName+"@prod" {
			t.Errorf("kubectl sees server %q context %q in %s, want %q %q", parts[1], parts[2], k.Name, k.Server, k.CommonName+"@prod")
		}
		ctxs := run("config", "get-contexts", "-o", "name")
		if strings.TrimSpace(ctxs) != k.CommonName+"@prod" {
			t.Errorf("kubectl config get-contexts of %s = %q, want %q", k.Name, ctxs, k.CommonName+"@prod")
		}
	}
}
