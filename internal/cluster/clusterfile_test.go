package cluster

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseClusterFileRejects(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: kubepki.io/v1alpha1\nkind: Cluster\n"
	tests := []struct {
		name, yaml, wantText string
	}{
		{"unknown field", head + "controlPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\nnodes: []\n", "nodes"},
		{"unknown node field", head + "controlPlaneNodes: [{name: cp1, ip: 10.0.0.1}]\n", "ip"},
		{"wrong kind", "apiVersion: kubepki.io/v1alpha1\nkind: ClusterConfiguration\ncontrolPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\n", "kind"},
		{"no control plane", head + "workerNodes: [{name: w1}]\n", "controlPlaneNodes is empty"},
		{"first control plane without IP", head + "controlPlaneNodes: [{name: cp1}]\n", "advertise address"},
		{"upper-case node", head + "controlPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\nworkerNodes: [{name: Worker1}]\n", `use "worker1"`},
		{"bad IP", head + "controlPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\nworkerNodes: [{name: w1, ips: [10.0.0]}]\n", "10.0.0"},
		{"bad user", head + "controlPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\nusers: [{name: a/b}]\n", "a/b"},
		{"bad algorithm", head + "keyAlgorithm: dsa\ncontrolPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\n", "dsa"},
		{"bad duration", head + "certValidity: forever\ncontrolPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\n", "forever"},
		{"not YAML", "{{{", "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseClusterFile([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("ParseClusterFile = %v, want an error mentioning %q", err, tc.wantText)
			}
		})
	}
}

// TestClusterFileInit checks what a cluster file adds to kubeadm's set:
// node serving and client certificates and kubeconfigs, kube-proxy and
// users, and the other control-plane node in the shared SANs.
func TestClusterFileInit(t *testing.T) {
	t.Parallel()
	o := clusterFileOptions(t)
	mustInit(t, o)
	api := readCert(t, filepath.Join(o.CertDir, "apiserver.crt"))
	for _, want := range []string{"cp1", "cp1.example.com", "cp2", "k8s.example.com"} {
		if !containsAll(strings.Join(api.DNSNames, " "), want) {
			t.Errorf("apiserver DNS SANs %q lack %q", api.DNSNames, want)
		}
	}
	peer := readCert(t, filepath.Join(o.CertDir, "etcd", "peer.crt"))
	if diff := cmp.Diff([]string{"10.0.0.10", "127.0.0.1", "::1", "10.0.0.11"}, describe(peer).IPs); diff != "" {
		t.Errorf("etcd-peer IPs (-want +got):\n%s", diff)
	}
	w1 := readCert(t, filepath.Join(o.CertDir, "nodes", "w1", "kubelet.crt"))
	want := issued{Issuer: "kubernetes", CN: "system:node:w1", O: []string{"system:nodes"}, KeyUsage: leafKU, EKU: server,
		DNS: []string{"w1", "w1.example.com"}, IPs: []string{"10.0.0.21", "fd00::21"}}
	if diff := cmp.Diff(want, describe(w1)); diff != "" {
		t.Errorf("w1 serving certificate (-want +got):\n%s", diff)
	}
	for _, name := range []string{"cp1", "cp2", "w1", "w2"} {
		c := readCert(t, filepath.Join(o.CertDir, "nodes", name, "kubelet-client.crt"))
		wantC := issued{Issuer: "kubernetes", CN: "system:node:" + name, O: []string{"system:nodes"}, KeyUsage: leafKU, EKU: client}
		if diff := cmp.Diff(wantC, describe(c)); diff != "" {
			t.Errorf("%s client certificate (-want +got):\n%s", name, diff)
		}
		e, err := readEmbedded(filepath.Join(o.KubeconfigDir, "nodes", name, "kubelet.conf"))
		if err != nil || !e.cert.Equal(c) || e.cluster.Server != "https://k8s.example.com:6443" {
			t.Errorf("nodes/%s/kubelet.conf does not embed kubelet-client.crt for the endpoint (%v)", name, err)
		}
	}
	proxy, err := readEmbedded(filepath.Join(o.KubeconfigDir, "kube-proxy.conf"))
	if err != nil || proxy.cert.Subject.CommonName != "system:kube-proxy" {
		t.Errorf("kube-proxy.conf: %v", err)
	}
	jane, err := readEmbedded(filepath.Join(o.KubeconfigDir, "users", "jane.conf"))
	if err != nil || jane.cert.Subject.CommonName != "jane" || !sameStrings(jane.cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("users/jane.conf: %v", err)
	}
	if jane.cfg.CurrentContext != "jane@prod" {
		t.Errorf("jane context %q, want jane@prod", jane.cfg.CurrentContext)
	}
	// Re-running with the same file changes nothing.
	res := mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusUnchanged {
			t.Errorf("second run: %s %s", f.Status, f.Path)
		}
	}
}

func FuzzParseClusterFile(f *testing.F) {
	f.Add([]byte("apiVersion: kubepki.io/v1alpha1\nkind: Cluster\ncontrolPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\n"))
	f.Add([]byte("apiVersion: kubepki.io/v1alpha1\nkind: Cluster\nclusterName: prod\ncontrolPlaneEndpoint: k8s:6443\ncertValidity: 720h\n" +
		"controlPlaneNodes: [{name: cp1, ips: [10.0.0.1, \"::1\"], dnsNames: [a.b]}]\nworkerNodes: [{name: w1}]\nusers: [{name: jane, groups: [dev]}]\nkubeProxy: false\n"))
	f.Add([]byte("{\"apiVersion\":\"kubepki.io/v1alpha1\",\"kind\":\"Cluster\",\"controlPlaneNodes\":[{\"name\":\"X\"}]}"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := ParseClusterFile(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		// A file that parses gives options that the plan accepts or
		// rejects with an error, never a panic.
		o := DefaultOptions()
		o.CertDir, o.KubeconfigDir = "/nonexistent/pki", "/nonexistent"
		cf.Apply(&o)
		if _, err := NewPlan(o); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

// TestParseClusterFileKubeadmConfig: kubeadm's own configuration files, in
// both current versions and as a multi-document stream, are recognised
// and refused with the cluster file's format and field names, not a
// puzzling unknown field.
func TestParseClusterFileKubeadmConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, wantVersion, wantKind string
	}{
		{"v1beta4 ClusterConfiguration", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.32.0\n" +
			"networking:\n  serviceSubnet: 10.100.0.0/16\n  dnsDomain: corp.local\n", "kubeadm.k8s.io/v1beta4", "ClusterConfiguration"},
		{"v1beta3 init and cluster", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.10\n" +
			"nodeRegistration:\n  name: cp1\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.0\n",
			"kubeadm.k8s.io/v1beta3", "InitConfiguration"},
		{"kubelet document first", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\n" +
			"apiVersion: \"kubeadm.k8s.io/v1beta4\"\nkind: InitConfiguration\n", "kubeadm.k8s.io/v1beta4", "InitConfiguration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseClusterFile([]byte(tc.yaml))
			if !errors.Is(err, ErrKubeadmConfig) ||
				!containsAll(err.Error(), tc.wantVersion, tc.wantKind, ClusterFileAPIVersion, "docs/cluster-config.md", "serviceCIDR", "--service-cidr") ||
				strings.Contains(err.Error(), "unknown field") {
				t.Errorf("ParseClusterFile = %v, want %v naming %s and the cluster file's format", err, ErrKubeadmConfig, tc.wantVersion)
			}
		})
	}
	// A cluster file is still read.
	if _, err := ParseClusterFile([]byte("apiVersion: kubepki.io/v1alpha1\nkind: Cluster\ncontrolPlaneNodes: [{name: cp1, ips: [10.0.0.1]}]\n")); err != nil {
		t.Errorf("ParseClusterFile(cluster file) = %v", err)
	}
}
