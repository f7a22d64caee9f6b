package cluster

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

// issued is what a written certificate holds, for comparison with
// kubeadm's table (kubernetes-pki reference §1.2–1.4, §2.1).
type issued struct {
	Issuer   string
	CN       string
	O        []string
	KeyUsage x509.KeyUsage
	EKU      []x509.ExtKeyUsage
	DNS      []string
	IPs      []string
	IsCA     bool
}

func describe(c *x509.Certificate) issued {
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	return issued{Issuer: c.Issuer.CommonName, CN: c.Subject.CommonName, O: c.Subject.Organization,
		KeyUsage: c.KeyUsage, EKU: c.ExtKeyUsage, DNS: c.DNSNames, IPs: ips, IsCA: c.IsCA}
}

const (
	leafKU = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	caKU   = leafKU | x509.KeyUsageCertSign
)

var (
	server = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// TestInitMatchesKubeadmTable checks every file init writes against
// kubeadm's exact table: subjects, issuers, usages, SANs (DNS sorted, IPs
// in construction order), validity and modes.
func TestInitMatchesKubeadmTable(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.ControlPlaneEndpoint = "k8s.example.com:8443"
	o.APIServerCertSANs = []string{"10.0.0.99", "api.example.com", "*.apps.example.com", "10.0.0.10"}
	o.ServiceCIDR = "10.100.0.0/16,fd00::/108"
	o.DNSDomain = "corp.local"
	mustInit(t, o)

	certs := map[string]issued{
		"ca.crt":             {Issuer: "kubernetes", CN: "kubernetes", KeyUsage: caKU, DNS: []string{"kubernetes"}, IsCA: true},
		"front-proxy-ca.crt": {Issuer: "front-proxy-ca", CN: "front-proxy-ca", KeyUsage: caKU, DNS: []string{"front-proxy-ca"}, IsCA: true},
		"etcd/ca.crt":        {Issuer: "etcd-ca", CN: "etcd-ca", KeyUsage: caKU, DNS: []string{"etcd-ca"}, IsCA: true},
		"apiserver.crt": {Issuer: "kubernetes", CN: "kube-apiserver", KeyUsage: leafKU, EKU: server,
			DNS: []string{"*.apps.example.com", "api.example.com", "cp1", "k8s.example.com", "kubernetes", "kubernetes.default",
				"kubernetes.default.svc", "kubernetes.default.svc.corp.local"},
			IPs: []string{"10.100.0.1", "10.0.0.10", "10.0.0.99"}},
		"apiserver-kubelet-client.crt": {Issuer: "kubernetes", CN: "kube-apiserver-kubelet-client", O: []string{"kubeadm:cluster-admins"},
			KeyUsage: leafKU, EKU: client},
		"front-proxy-client.crt": {Issuer: "front-proxy-ca", CN: "front-proxy-client", KeyUsage: leafKU, EKU: client},
		"etcd/server.crt": {Issuer: "etcd-ca", CN: "cp1", KeyUsage: leafKU, EKU: both,
			DNS: []string{"cp1", "localhost"}, IPs: []string{"10.0.0.10", "127.0.0.1", "::1"}},
		"etcd/peer.crt": {Issuer: "etcd-ca", CN: "cp1", KeyUsage: leafKU, EKU: both,
			DNS: []string{"cp1", "localhost"}, IPs: []string{"10.0.0.10", "127.0.0.1", "::1"}},
		"etcd/healthcheck-client.crt": {Issuer: "etcd-ca", CN: "kube-etcd-healthcheck-client", KeyUsage: leafKU, EKU: client},
		"apiserver-etcd-client.crt":   {Issuer: "etcd-ca", CN: "kube-apiserver-etcd-client", KeyUsage: leafKU, EKU: client},
	}
	for name, want := range certs {
		c := readCert(t, filepath.Join(o.CertDir, name))
		if diff := cmp.Diff(want, describe(c)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		wantNotAfter := testStart.Add(DefaultCertValidity)
		if want.IsCA {
			wantNotAfter = testStart.Add(DefaultCAValidity)
		}
		if !c.NotBefore.Equal(testStart.Add(-5*time.Minute)) || !c.NotAfter.Equal(wantNotAfter) {
			t.Errorf("%s valid %s to %s, want %s to %s", name, c.NotBefore, c.NotAfter, testStart.Add(-5*time.Minute), wantNotAfter)
		}
		if c.SerialNumber.BitLen() < 100 {
			t.Errorf("%s serial has %d bits, want about 128 random bits", name, c.SerialNumber.BitLen())
		}
	}

	kubeconfigs := map[string]struct {
		user   string
		o      []string
		server string
	}{
		"admin.conf":              {"kubernetes-admin", []string{"kubeadm:cluster-admins"}, "https://k8s.example.com:8443"},
		"super-admin.conf":        {"kubernetes-super-admin", []string{"system:masters"}, "https://k8s.example.com:8443"},
		"controller-manager.conf": {"system:kube-controller-manager", nil, "https://10.0.0.10:6443"},
		"scheduler.conf":          {"system:kube-scheduler", nil, "https://10.0.0.10:6443"},
		"kubelet.conf":            {"system:node:cp1", []string{"system:nodes"}, "https://10.0.0.10:6443"},
	}
	for name, want := range kubeconfigs {
		cfg, err := kubeconfig.Read(filepath.Join(o.KubeconfigDir, name))
		if err != nil {
			t.Fatal(err)
		}
		wantCtx := want.user + "@kubernetes"
		if cfg.CurrentContext != wantCtx {
			t.Errorf("%s current-context %q, want %q", name, cfg.CurrentContext, wantCtx)
		}
		if got := cfg.Clusters["kubernetes"].Server; got != want.server {
			t.Errorf("%s server %q, want %q", name, got, want.server)
		}
		c, err := pki.ParseCertificatePEM(cfg.AuthInfos[want.user].ClientCertificateData)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantCert := issued{Issuer: "kubernetes", CN: want.user, O: want.o, KeyUsage: leafKU, EKU: client}
		if diff := cmp.Diff(wantCert, describe(c)); diff != "" {
			t.Errorf("%s client certificate (-want +got):\n%s", name, diff)
		}
	}

	modes := map[string]uint32{
		"pki/ca.key": 0o600, "pki/ca.crt": 0o644, "pki/etcd/peer.key": 0o600, "pki/etcd/peer.crt": 0o644,
		"pki/sa.key": 0o600, "pki/sa.pub": 0o600, "admin.conf": 0o600, "kubelet.conf": 0o600,
		"pki": 0o700, "pki/etcd": 0o700,
	}
	snap := snapshot(t, o.KubeconfigDir)
	for name, want := range modes {
		if got := uint32(snap[name].Mode.Perm()); got != want {
			t.Errorf("mode of %s = %04o, want %04o", name, got, want)
		}
	}
	// sa.pub is the public key of sa.key.
	saKey, err := pki.ReadPrivateKeyFile(filepath.Join(o.CertDir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pki.ParsePublicKeyPEM([]byte(snap["pki/sa.pub"].Content))
	if err != nil || !pki.PublicKeysEqual(pub, saKey.Public()) {
		t.Errorf("sa.pub is not the public key of sa.key (err %v)", err)
	}
}

func TestNewPlanRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Options)
	}{
		{"upper-case node name", func(o *Options) { o.NodeName = "CP1" }},
		{"invalid node name", func(o *Options) { o.NodeName = "cp_1" }},
		{"bad advertise address", func(o *Options) { o.AdvertiseAddress = "10.0.0" }},
		{"bad service CIDR", func(o *Options) { o.ServiceCIDR = "10.96.0.0" }},
		{"bad SAN", func(o *Options) { o.APIServerCertSANs = []string{"not a name"} }},
		{"bad endpoint port", func(o *Options) { o.ControlPlaneEndpoint = "k8s:99999" }},
		{"ed25519", func(o *Options) { o.KeyAlgorithm = pki.Ed25519 }},
		{"cert outlives CA", func(o *Options) { o.CertValidity = 2 * DefaultCAValidity }},
		{"cert validity of a second", func(o *Options) { o.CertValidity = time.Second }},
		{"cert validity under the minimum", func(o *Options) { o.CertValidity = MinValidity - time.Second }},
		{"negative cert validity", func(o *Options) { o.CertValidity = -time.Hour }},
		{"CA validity of a minute", func(o *Options) { o.CAValidity, o.CertValidity = time.Minute, MinValidity }},
		{"upper-case worker", func(o *Options) { o.WorkerNodes = []Node{{Name: "Worker1"}} }},
		{"duplicate node", func(o *Options) { o.WorkerNodes = []Node{{Name: "w1"}, {Name: "w1"}} }},
		{"user with slash", func(o *Options) { o.Users = []User{{Name: "../jane"}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			tc.modify(&o)
			_, err := NewPlan(o)
			if _, ok := errors.AsType[*OptionsError](err); !ok {
				t.Fatalf("NewPlan = %v, want an *OptionsError", err)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
		})
	}
}

func TestValidateNodeNameSuggestsLowerCase(t *testing.T) {
	t.Parallel()
	err := ValidateNodeName("Worker1")
	if err == nil || !containsAll(err.Error(), `"worker1"`) {
		t.Fatalf("ValidateNodeName(Worker1) = %v, want a message suggesting \"worker1\"", err)
	}
}

func TestFirstServiceIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.96.0.0/12": "10.96.0.1", "10.96.0.0/12,fd00::/108": "10.96.0.1", "fd00::/108": "fd00::1", "10.0.0.255/24": "10.0.0.1",
	} {
		got, err := firstServiceIP(in)
		if err != nil || !got.Equal(net.ParseIP(want)) {
			t.Errorf("firstServiceIP(%q) = %v, %v, want %s", in, got, err, want)
		}
	}
	if _, err := firstServiceIP("10.0.0.1/32"); err == nil {
		t.Error("firstServiceIP(/32) succeeded, want an error")
	}
}

// TestInitKeepsRotatedKubeletConf accepts kubeadm's kubelet.conf after
// kubelet-finalize, which points at the kubelet's rotated certificate file
// instead of embedding one, as kubeadm does: only the CA is checked.
func TestInitKeepsRotatedKubeletConf(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	path := filepath.Join(o.KubeconfigDir, "kubelet.conf")
	cfg, err := kubeconfig.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.AuthInfos["system:node:cp1"]
	u.ClientCertificateData, u.ClientKeyData = nil, nil
	u.ClientCertificate = "/var/lib/kubelet/pki/kubelet-client-current.pem"
	u.ClientKey = u.ClientCertificate
	if err := kubeconfig.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	res := mustInit(t, o)
	for _, f := range res.Files {
		if f.Path == path && f.Status != StatusUnchanged {
			t.Errorf("kubelet.conf %s, want unchanged", f.Status)
		}
	}
	// With another cluster's CA it is a mismatch.
	other := testOptions(t)
	mustInit(t, other)
	caPEM, _ := os.ReadFile(filepath.Join(other.CertDir, "ca.crt"))
	cfg.Clusters["kubernetes"].CertificateAuthorityData = caPEM
	if err := kubeconfig.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(t.Context(), o); err == nil || !strings.Contains(err.Error(), "wrong CA") {
		t.Errorf("Init with kubelet.conf of another CA = %v, want a wrong-CA error", err)
	}
}

// FuzzNewPlan feeds the string options (endpoint, CIDR, SANs, names,
// addresses) to the plan: it must return a plan or an error, never panic,
// and a plan's SANs must be de-duplicated.
func FuzzNewPlan(f *testing.F) {
	f.Add("k8s.example.com:6443", "10.96.0.0/12", "10.0.0.10", "cp1", "api.example.com")
	f.Add("[fd00::1]:443", "fd00::/108,10.96.0.0/12", "fd00::10", "cp-1.x", "*.apps.example.com")
	f.Add("", "10.0.0.0/32", "0.0.0.0", "CP1", "not a name")
	f.Add("host:0", "bogus", "::", "", "10.0.0.10")
	f.Fuzz(func(t *testing.T, endpoint, cidr, addr, node, san string) {
		o := DefaultOptions()
		o.CertDir, o.KubeconfigDir = "/nonexistent/pki", "/nonexistent"
		o.ControlPlaneEndpoint, o.ServiceCIDR, o.AdvertiseAddress, o.NodeName = endpoint, cidr, addr, node
		o.APIServerCertSANs = []string{san}
		p, err := NewPlan(o)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, c := range p.Certs {
			for i := range c.IPAddresses {
				for j := range i {
					if c.IPAddresses[i].Equal(c.IPAddresses[j]) {
						t.Fatalf("%s has IP %s twice", c.Name, c.IPAddresses[i])
					}
				}
			}
			for i := 1; i < len(c.DNSNames); i++ {
				if c.DNSNames[i-1] >= c.DNSNames[i] {
					t.Fatalf("%s DNS SANs not sorted and unique: %q", c.Name, c.DNSNames)
				}
			}
		}
	})
}

// TestParseKeyAlgorithm: a cluster's key types are kubeadm's, in either
// spelling; Ed25519 and unknown names are refused with the list that
// works, which does not offer Ed25519.
func TestParseKeyAlgorithm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]pki.KeyAlgorithm{"": pki.DefaultKeyAlgorithm, "ECDSA-P384": pki.ECDSAP384, "rsa-4096": pki.RSA4096} {
		if got, err := ParseKeyAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseKeyAlgorithm(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ed25519", "Ed25519", "dsa", "p256"} {
		_, err := ParseKeyAlgorithm(in)
		if err == nil {
			t.Errorf("ParseKeyAlgorithm(%q) accepted it", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096") || strings.Contains(msg, "use one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519") {
			t.Errorf("ParseKeyAlgorithm(%q): %q, want the cluster's five key types only", in, msg)
		}
	}
}
