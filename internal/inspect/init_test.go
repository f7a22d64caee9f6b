package inspect_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// initCluster runs kubepki init into a fresh folder and returns the options.
func initCluster(t *testing.T, file string) cluster.Options {
	t.Helper()
	dir := t.TempDir()
	opts := cluster.DefaultOptions()
	opts.CertDir = filepath.Join(dir, "pki")
	opts.KubeconfigDir = dir
	opts.NodeName = "cp1"
	opts.AdvertiseAddress = "10.0.0.10"
	if file != "" {
		f, err := cluster.ParseClusterFile([]byte(file))
		if err != nil {
			t.Fatalf("ParseClusterFile: %v", err)
		}
		f.Apply(&opts)
	}
	if _, err := cluster.Init(t.Context(), opts); err != nil {
		t.Fatalf("cluster.Init: %v", err)
	}
	return opts
}

const clusterFile = `apiVersion: kubepki.io/v1alpha1
kind: Cluster
clusterName: prod
controlPlaneEndpoint: cp.example.org:6443
serviceCIDR: 10.100.0.0/16
dnsDomain: example.org
apiServerCertSANs: [api.example.org, 192.168.0.10]
controlPlaneNodes:
- name: cp1
  ips: [10.0.0.10]
- name: cp2
  ips: [10.0.0.11]
workerNodes:
- name: w1
  ips: [10.0.1.1]
users:
- name: jane
  groups: [dev]
`

// TestInitLintsClean shows that what kubepki init makes, with defaults and
// from a cluster file (init --config), has no lint finding at all.
func TestInitLintsClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		file string
		alg  pki.KeyAlgorithm
	}{
		{name: "defaults"},
		{name: "rsa-2048", alg: pki.RSA2048},
		{name: "ecdsa-p256", alg: pki.ECDSAP256},
		{name: "ecdsa-p384", alg: pki.ECDSAP384},
		{name: "cluster file", file: clusterFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := initCluster(t, tc.file)
			if tc.alg != "" {
				opts.KeyAlgorithm = tc.alg
				opts.CertDir = filepath.Join(t.TempDir(), "pki")
				opts.KubeconfigDir = filepath.Dir(opts.CertDir)
				if _, err := cluster.Init(t.Context(), opts); err != nil {
					t.Fatalf("cluster.Init: %v", err)
				}
			}
			ctx := inspect.Context{ServiceCIDR: opts.ServiceCIDR, DNSDomain: opts.DNSDomain, APIServerAddresses: []string{opts.AdvertiseAddress}}
			if opts.ControlPlaneEndpoint != "" {
				ctx.APIServerAddresses = append(ctx.APIServerAddresses, opts.ControlPlaneEndpoint)
			}
			rep, err := inspect.Lint([]string{opts.KubeconfigDir}, inspect.LintOptions{Context: ctx})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				t.Errorf("%s %s %s: %s", f.Severity, f.Rule, f.Source, f.Message)
			}
			// ca, front-proxy-ca, etcd/ca and seven leaves at least, plus
			// the certificates of the kubeconfig files.
			if rep.Certificates < 10+5*2 {
				t.Errorf("Certificates = %d, want at least 20: not every file was read", rep.Certificates)
			}
		})
	}
}

// TestInitManifestsCheckClean builds each control-plane component's static
// pod manifest, and the kubelet configuration, from the flags kubepki
// gives for its files, and shows that inspect --manifest finds every file
// and nothing wrong with them together.
func TestInitManifestsCheckClean(t *testing.T) {
	t.Parallel()
	opts := initCluster(t, clusterFile)
	dir := t.TempDir()
	for _, tc := range []struct {
		component, node string
		wantRefs        int
	}{
		{"kube-apiserver", "", 13},
		{"etcd", "", 6},
		{"kube-controller-manager", "", 9},
		{"kube-scheduler", "", 3},
		{"kubelet", "w1", 3},
	} {
		t.Run(tc.component, func(t *testing.T) {
			t.Parallel()
			flags, err := cluster.ComponentFlags(opts, tc.component, tc.node)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.component+".yaml")
			data := []byte(flags)
			if tc.component != "kubelet" {
				pod := corev1.Pod{
					TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
					ObjectMeta: metav1.ObjectMeta{Name: tc.component, Namespace: "kube-system"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:    tc.component,
						Image:   "registry.k8s.io/" + tc.component,
						Command: append([]string{tc.component}, strings.Fields(flags)...),
					}}},
				}
				if data, err = yaml.Marshal(pod); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := inspect.InspectManifest(path, inspect.Options{}, inspect.Context{ServiceCIDR: opts.ServiceCIDR, DNSDomain: opts.DNSDomain})
			if err != nil {
				t.Fatalf("InspectManifest: %v", err)
			}
			if got := len(rep.Manifest.References); got != tc.wantRefs {
				t.Errorf("%d file references, want %d: %+v", got, tc.wantRefs, rep.Manifest.References)
			}
			for _, it := range rep.Items {
				if it.Error != "" {
					t.Errorf("%s %s: %s", it.Reference, it.Source, it.Error)
				}
			}
			for _, f := range rep.Findings {
				t.Errorf("%s %s %s: %s", f.Severity, f.Rule, f.Source, f.Message)
			}
		})
	}
}

// TestInspectManifestBroken names the wrong files in a kube-apiserver
// manifest and shows that the checks across files catch each.
func TestInspectManifestBroken(t *testing.T) {
	t.Parallel()
	opts := initCluster(t, "")
	pkiDir := opts.CertDir
	p := func(name string) string { return filepath.Join(pkiDir, name) }
	tests := []struct {
		name     string
		args     []string
		want     []string
		badItems int
	}{
		{name: "etcd client from the cluster CA", want: []string{inspect.RuleWrongCA},
			args: []string{"--etcd-cafile=" + p("etcd/ca.crt"), "--etcd-certfile", p("apiserver-kubelet-client.crt"), "--etcd-keyfile=" + p("apiserver-kubelet-client.key")}},
		{name: "serving key of another certificate", want: []string{inspect.RuleKeyMismatch},
			args: []string{"--client-ca-file=" + p("ca.crt"), "--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("front-proxy-client.key")}},
		{name: "front-proxy client checked against the cluster CA", want: []string{inspect.RuleWrongCA},
			args: []string{"--requestheader-client-ca-file=" + p("ca.crt"), "--proxy-client-cert-file=" + p("front-proxy-client.crt"), "--proxy-client-key-file=" + p("front-proxy-client.key")}},
		{name: "missing file", want: []string{inspect.RuleUnreadable}, badItems: 1,
			args: []string{"--client-ca-file=" + p("nope.crt"), "--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key")}},
		{name: "service account keys of two pairs", want: []string{inspect.RulePublicKeyMismatch},
			args: []string{"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("apiserver.key")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pod := corev1.Pod{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "kube-apiserver", Command: []string{"kube-apiserver"}, Args: append([]string{"--advertise-address=10.0.0.10"}, tc.args...),
				}}},
			}
			data, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "kube-apiserver.yaml")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := inspect.InspectManifest(path, inspect.Options{}, inspect.Context{})
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for _, it := range rep.Items {
				if it.Error != "" {
					bad++
				}
			}
			if bad != tc.badItems {
				t.Errorf("%d items with errors, want %d", bad, tc.badItems)
			}
			var got []string
			for _, f := range rep.Findings {
				t.Logf("%s %s: %s", f.Rule, f.Source, f.Message)
				if !slices.Contains(got, f.Rule) {
					got = append(got, f.Rule)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkLintInit lints what kubepki init makes with a cluster file:
// three CAs, the kubeadm leaves and kubeconfigs, two control-plane and one
// worker node, a user and kube-proxy.
func BenchmarkLintInit(b *testing.B) {
	dir := b.TempDir()
	opts := cluster.DefaultOptions()
	opts.CertDir, opts.KubeconfigDir = filepath.Join(dir, "pki"), dir
	f, err := cluster.ParseClusterFile([]byte(clusterFile))
	if err != nil {
		b.Fatal(err)
	}
	f.Apply(&opts)
	if _, err := cluster.Init(b.Context(), opts); err != nil {
		b.Fatal(err)
	}
	ctx := inspect.Context{ServiceCIDR: opts.ServiceCIDR, DNSDomain: opts.DNSDomain}
	var certs int
	for b.Loop() {
		rep, err := inspect.Lint([]string{dir}, inspect.LintOptions{Context: ctx})
		if err != nil {
			b.Fatal(err)
		}
		certs = rep.Certificates
	}
	b.ReportMetric(float64(certs), "certs/op")
}

// TestLintCopiedCertificate copies one file of an init folder over
// another, as a mistaken cp does, and shows that lint of the folder checks
// the copy under its own path and role, though the same bytes are also
// read, and linted, under the original's path.
func TestLintCopiedCertificate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to []string // files copied, certificate first, then key
		want     []string // rules reported under the copy's path
	}{
		{name: "apiserver pair as front-proxy-client", from: []string{"apiserver.crt", "apiserver.key"}, to: []string{"front-proxy-client.crt", "front-proxy-client.key"},
			want: []string{inspect.RuleUsageRole, inspect.RuleFrontProxyCA}},
		{name: "cluster CA as etcd healthcheck client", from: []string{"ca.crt"}, to: []string{"etcd/healthcheck-client.crt"},
			want: []string{inspect.RuleKeyMismatch, inspect.RuleLeafIsCA}},
		{name: "cluster CA as apiserver", from: []string{"ca.crt"}, to: []string{"apiserver.crt"},
			want: []string{inspect.RuleAPIServerDefaultNames, inspect.RuleAPIServerAddress, inspect.RuleKeyMismatch, inspect.RuleLeafIsCA}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := initCluster(t, "")
			for i := range tc.from {
				data, err := os.ReadFile(filepath.Join(opts.CertDir, tc.from[i]))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(opts.CertDir, tc.to[i]), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := inspect.Lint([]string{opts.KubeconfigDir}, inspect.LintOptions{Context: inspect.Context{APIServerAddresses: []string{opts.AdvertiseAddress}}})
			if err != nil {
				t.Fatal(err)
			}
			copyPath := filepath.Join(opts.CertDir, tc.to[0])
			var got []string
			for _, f := range rep.Findings {
				t.Logf("%s %s %s: %s", f.Severity, f.Rule, f.Source, f.Message)
				if f.Source == copyPath {
					got = append(got, f.Rule)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("lint of a folder with %s copied to %s: rules %q under the copy, want %q", tc.from[0], tc.to[0], got, tc.want)
			}
		})
	}
}

// TestLintServiceAccountKeyPair replaces sa.pub with the public half of
// another key, as openssl does when pointed at the wrong file, and shows
// that lint of the folder and inspect --manifest of kube-apiserver both
// report it, while a bundle that also holds sa.key's public half, as during
// a key rotation, is fine.
func TestLintServiceAccountKeyPair(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	for _, tc := range []struct {
		name   string
		bundle bool // keep the original sa.pub after the wrong key
		want   []string
	}{
		{name: "public half of apiserver.key", want: []string{inspect.RulePublicKeyMismatch}},
		{name: "bundle with the right key second", bundle: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := initCluster(t, "")
			saPub := filepath.Join(opts.CertDir, "sa.pub")
			orig, err := os.ReadFile(saPub)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(t.Context(), openssl, "pkey", "-in", filepath.Join(opts.CertDir, "apiserver.key"), "-pubout").Output()
			if err != nil {
				t.Fatalf("openssl pkey -pubout: %v", err)
			}
			if tc.bundle {
				out = append(out, orig...)
			}
			if err := os.WriteFile(saPub, out, 0o600); err != nil {
				t.Fatal(err)
			}

			rep, err := inspect.Lint([]string{opts.KubeconfigDir}, inspect.LintOptions{Context: inspect.Context{APIServerAddresses: []string{opts.AdvertiseAddress}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := rulesUnder(rep.Findings, saPub); !slices.Equal(got, tc.want) {
				t.Errorf("lint: rules %q under %s, want %q", got, saPub, tc.want)
			}

			flags, err := cluster.ComponentFlags(opts, "kube-apiserver", "")
			if err != nil {
				t.Fatal(err)
			}
			path := writeAPIServerManifest(t, strings.Fields(flags))
			mrep, err := inspect.InspectManifest(path, inspect.Options{}, inspect.Context{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rulesUnder(mrep.Findings, saPub); !slices.Equal(got, tc.want) {
				t.Errorf("inspect --manifest: rules %q under %s, want %q", got, saPub, tc.want)
			}
		})
	}
}

// rulesUnder returns the sorted rule IDs of the findings under source,
// logging every finding.
func rulesUnder(fs []inspect.Finding, source string) []string {
	var got []string
	for _, f := range fs {
		if f.Source == source && !slices.Contains(got, f.Rule) {
			got = append(got, f.Rule)
		}
	}
	slices.Sort(got)
	return got
}

// writeAPIServerManifest writes a kube-apiserver static pod manifest with
// args into a fresh folder and returns its path.
func writeAPIServerManifest(t *testing.T, args []string) string {
	t.Helper()
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver", Namespace: "kube-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "kube-apiserver", Command: append([]string{"kube-apiserver"}, args...),
		}}},
	}
	data, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kube-apiserver.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInspectManifestAPIServerSettings gives kube-apiserver's manifest an
// advertise address and a service range that apiserver.crt does not hold,
// and shows that inspect --manifest checks the certificate against them,
// unless the caller's own settings say otherwise.
func TestInspectManifestAPIServerSettings(t *testing.T) {
	t.Parallel()
	opts := initCluster(t, "")
	flags, err := cluster.ComponentFlags(opts, "kube-apiserver", "")
	if err != nil {
		t.Fatal(err)
	}
	apiserverCrt := filepath.Join(opts.CertDir, "apiserver.crt")
	for _, tc := range []struct {
		name  string
		extra []string
		ctx   inspect.Context
		want  []string
	}{
		{name: "the manifest's own settings", extra: []string{"--advertise-address=10.0.0.99", "--service-cluster-ip-range", "10.100.0.0/16"},
			want: []string{inspect.RuleAPIServerDefaultNames, inspect.RuleAPIServerAddress}},
		{name: "advertise address only", extra: []string{"--advertise-address", "10.0.0.99", "--service-node-port-range=30000-32767"},
			want: []string{inspect.RuleAPIServerAddress}},
		{name: "settings the certificate holds", extra: []string{"--advertise-address=10.0.0.10", "--service-cluster-ip-range=10.96.0.0/12,fd00::/108"}},
		{name: "the caller's settings win", extra: []string{"--advertise-address=10.0.0.99", "--service-cluster-ip-range=10.100.0.0/16"},
			ctx: inspect.Context{AdvertiseAddress: "10.0.0.10", ServiceCIDR: "10.96.0.0/12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeAPIServerManifest(t, append(strings.Fields(flags), tc.extra...))
			rep, err := inspect.InspectManifest(path, inspect.Options{}, tc.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				t.Logf("%s %s: %s", f.Rule, f.Source, f.Message)
			}
			if got := rulesUnder(rep.Findings, apiserverCrt); !slices.Equal(got, tc.want) {
				t.Errorf("rules %q under %s, want %q", got, apiserverCrt, tc.want)
			}
			if len(rep.Findings) != len(tc.want) {
				t.Errorf("%d findings, want %d", len(rep.Findings), len(tc.want))
			}
		})
	}
}
