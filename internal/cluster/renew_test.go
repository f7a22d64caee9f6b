package cluster

import (
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

func TestRenewKeepsIdentityWithInjectedClock(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep keys", true: "rotate keys"}[rotate], func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			o.ControlPlaneEndpoint = "10.0.0.100:6443"
			mustInit(t, o)
			oldAPI := readCert(t, filepath.Join(o.CertDir, "apiserver.crt"))
			oldKey := snapshot(t, o.CertDir)["apiserver.key"]
			oldAdmin, err := readEmbedded(filepath.Join(o.KubeconfigDir, "admin.conf"))
			if err != nil {
				t.Fatal(err)
			}
			oldAdminFile, _ := os.ReadFile(filepath.Join(o.KubeconfigDir, "admin.conf"))

			later := testStart.Add(200 * 24 * time.Hour)
			o.Now = func() time.Time { return later }
			res, err := Renew(t.Context(), o, RenewOptions{Names: []string{"all"}, RotateKeys: rotate})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings %q", res.Warnings)
			}
			api := readCert(t, filepath.Join(o.CertDir, "apiserver.crt"))
			if !api.NotBefore.Equal(later.Add(-Backdate)) || !api.NotAfter.Equal(later.Add(DefaultCertValidity)) {
				t.Errorf("renewed apiserver valid %s to %s, want %s to %s", api.NotBefore, api.NotAfter, later.Add(-Backdate), later.Add(DefaultCertValidity))
			}
			if diff := cmp.Diff(describe(oldAPI), describe(api)); diff != "" {
				t.Errorf("renewal changed subject, SANs or usages (-old +new):\n%s", diff)
			}
			if api.SerialNumber.Cmp(oldAPI.SerialNumber) == 0 {
				t.Error("renewal kept the serial number")
			}
			keyNow := snapshot(t, o.CertDir)["apiserver.key"]
			if keyChanged := keyNow.Content != oldKey.Content; keyChanged != rotate {
				t.Errorf("apiserver.key changed = %v, want %v", keyChanged, rotate)
			}
			if keyNow.Mode.Perm() != 0o600 {
				t.Errorf("apiserver.key mode %04o after renew", keyNow.Mode.Perm())
			}
			admin, err := readEmbedded(filepath.Join(o.KubeconfigDir, "admin.conf"))
			if err != nil {
				t.Fatal(err)
			}
			if !admin.cert.NotAfter.Equal(later.Add(DefaultCertValidity)) || admin.cert.Subject.String() != oldAdmin.cert.Subject.String() {
				t.Errorf("admin.conf certificate %s until %s, want %s until %s", admin.cert.Subject, admin.cert.NotAfter, oldAdmin.cert.Subject, later.Add(DefaultCertValidity))
			}
			if admin.cluster.Server != oldAdmin.cluster.Server || admin.cfg.CurrentContext != oldAdmin.cfg.CurrentContext {
				t.Error("renewal changed the kubeconfig's server or context")
			}
			// The folder still verifies as a whole at the later time.
			o.Now = func() time.Time { return later }
			res, err = Init(t.Context(), o)
			if err != nil {
				t.Fatalf("Init after renew: %v", err)
			}
			for _, f := range res.Files {
				if f.Status != StatusUnchanged {
					t.Errorf("Init after renew: %s %s", f.Status, f.Path)
				}
			}
			// kubelet.conf is not renewed (the kubelet rotates it).
			kubelet, _ := readEmbedded(filepath.Join(o.KubeconfigDir, "kubelet.conf"))
			if !kubelet.cert.NotAfter.Equal(testStart.Add(DefaultCertValidity)) {
				t.Error("renew all renewed kubelet.conf")
			}
			// The backup holds the old files with their modes.
			backup, err := os.ReadFile(filepath.Join(res0(t, o, later), "kubeconfig", "admin.conf"))
			if err != nil || string(backup) != string(oldAdminFile) {
				t.Errorf("backup of admin.conf missing or different (%v)", err)
			}
		})
	}
}

// res0 finds the backup folder of a renewal at time at.
func res0(t *testing.T, o Options, at time.Time) string {
	t.Helper()
	dir := filepath.Join(o.KubeconfigDir, "tmp", "kubepki-backup-"+at.Format("2006-01-02-150405"))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("backup folder mode %04o, want 0700", fi.Mode().Perm())
	}
	return dir
}

func TestRenewErrors(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)

	if _, err := Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver", "no-such-cert"}}); !errors.Is(err, ErrUnknownName) {
		t.Errorf("Renew(no-such-cert) = %v, want %v", err, ErrUnknownName)
	}

	// External etcd CA: the key is absent.
	if err := os.Remove(filepath.Join(o.CertDir, "etcd", "ca.key")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, o.KubeconfigDir)
	if _, err := Renew(t.Context(), o, RenewOptions{Names: []string{"etcd-peer"}}); !errors.Is(err, ErrExternalCA) {
		t.Errorf("Renew(etcd-peer) with external etcd CA = %v, want %v", err, ErrExternalCA)
	}
	if diff := cmp.Diff(before, snapshot(t, o.KubeconfigDir)); diff != "" {
		t.Errorf("failed renew changed files:\n%s", diff)
	}
	res, err := Renew(t.Context(), o, RenewOptions{Names: []string{"all"}})
	if err != nil {
		t.Fatalf("Renew(all) with external etcd CA: %v", err)
	}
	if len(res.Warnings) != 4 {
		t.Errorf("Renew(all) warnings %q, want 4 (the etcd-ca certificates)", res.Warnings)
	}
	for _, f := range res.Files {
		if strings.Contains(f.Path, "etcd") {
			t.Errorf("Renew(all) renewed %s signed by the external CA", f.Path)
		}
	}
}

func TestRenewRefusesCertificateOfAnotherCA(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	o2 := testOptions(t)
	mustInit(t, o2)
	for _, ext := range []string{".crt", ".key"} {
		copyFile(t, filepath.Join(o2.CertDir, "apiserver"+ext), filepath.Join(o.CertDir, "apiserver"+ext))
	}
	_, err := Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver"}})
	if err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Fatalf("Renew = %v, want a not-signed-by error", err)
	}
}

func TestCheckExpiration(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.CertValidity = 30 * 24 * time.Hour
	mustInit(t, o)
	if err := os.Remove(filepath.Join(o.KubeconfigDir, "scheduler.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(o.CertDir, "front-proxy-ca.key")); err != nil {
		t.Fatal(err)
	}
	o.Now = func() time.Time { return testStart.Add(10 * 24 * time.Hour) }
	info, err := CheckExpiration(o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range info.Certificates {
		names = append(names, r.Name)
	}
	want := []string{"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf",
		"etcd-healthcheck-client", "etcd-peer", "etcd-server", "front-proxy-client", "scheduler.conf", "super-admin.conf"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, r := range info.Certificates {
		switch r.Name {
		case "scheduler.conf":
			if !r.Missing {
				t.Error("scheduler.conf not reported missing")
			}
		case "front-proxy-client":
			if !r.ExternallyManaged || r.CAName != "front-proxy-ca" {
				t.Errorf("front-proxy-client row %+v, want externally managed by front-proxy-ca", r)
			}
		default:
			if r.HumanResidual() != "20d" || r.ResidualTime != int64(20*24*time.Hour/time.Second) || r.ExternallyManaged {
				t.Errorf("%s residual %s (%ds), externally managed %v; want 20d", r.Name, r.HumanResidual(), r.ResidualTime, r.ExternallyManaged)
			}
		}
	}
	if got := len(info.ExpiringWithin(7 * 24 * time.Hour)); got != 1 {
		t.Errorf("ExpiringWithin(7d) = %d rows, want 1 (the missing file)", got)
	}
	if got := len(info.ExpiringWithin(720 * time.Hour)); got != 11 {
		t.Errorf("ExpiringWithin(720h) = %d rows, want all 11 certificates", got)
	}

	// A garbled file is an error naming it.
	if err := os.WriteFile(filepath.Join(o.CertDir, "apiserver.crt"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckExpiration(o); err == nil || !strings.Contains(err.Error(), "apiserver.crt") {
		t.Errorf("CheckExpiration on garbled file = %v, want an error naming apiserver.crt", err)
	}
}

func TestIssueNodeAndUser(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	res, err := IssueNodes(t.Context(), o, []Node{{Name: "w7", IPs: []string{"10.0.0.27"}, DNSNames: []string{"w7.example.com"}}}, "https://lb:6443")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 5 {
		t.Errorf("IssueNodes wrote %d files, want 5: %+v", len(res.Files), res.Files)
	}
	serving := readCert(t, filepath.Join(o.CertDir, "nodes", "w7", "kubelet.crt"))
	want := issued{Issuer: "kubernetes", CN: "system:node:w7", O: []string{"system:nodes"}, KeyUsage: leafKU, EKU: server,
		DNS: []string{"w7", "w7.example.com"}, IPs: []string{"10.0.0.27"}}
	if diff := cmp.Diff(want, describe(serving)); diff != "" {
		t.Errorf("serving certificate (-want +got):\n%s", diff)
	}
	cfg, err := kubeconfig.Read(filepath.Join(o.KubeconfigDir, "nodes", "w7", "kubelet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "system:node:w7@kubernetes" || cfg.Clusters["kubernetes"].Server != "https://lb:6443" {
		t.Errorf("node kubeconfig context %q server %q", cfg.CurrentContext, cfg.Clusters["kubernetes"].Server)
	}
	// Idempotent.
	res, err = IssueNodes(t.Context(), o, []Node{{Name: "w7", IPs: []string{"10.0.0.27"}, DNSNames: []string{"w7.example.com"}}}, "https://lb:6443")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if f.Status != StatusUnchanged {
			t.Errorf("second IssueNodes: %s %s", f.Status, f.Path)
		}
	}
	// A new IP is a mismatch without Force.
	if _, err := IssueNodes(t.Context(), o, []Node{{Name: "w7", IPs: []string{"10.0.0.28"}}}, "https://lb:6443"); err == nil {
		t.Error("IssueNodes with another IP succeeded without Force")
	}

	if _, err := IssueUser(t.Context(), o, User{Name: "jane", Groups: []string{"dev", "ops"}}, "https://lb:6443"); err != nil {
		t.Fatal(err)
	}
	e, err := readEmbedded(filepath.Join(o.KubeconfigDir, "users", "jane.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if e.cert.Subject.CommonName != "jane" || !sameStrings(e.cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("user certificate subject %s", e.cert.Subject)
	}
	userCert := readCert(t, filepath.Join(o.CertDir, "users", "jane.crt"))
	if !userCert.Equal(e.cert) {
		t.Error("users/jane.crt differs from the certificate in users/jane.conf")
	}

	// Without a CA there is nothing to sign with.
	empty := testOptions(t)
	if _, err := IssueUser(t.Context(), empty, User{Name: "bob"}, "https://lb:6443"); err == nil || !strings.Contains(err.Error(), "kubepki init") {
		t.Errorf("IssueUser without CA = %v, want advice to run kubepki init", err)
	}
	if _, err := os.Stat(empty.CertDir); err == nil {
		t.Error("IssueUser without CA created the certificate folder")
	}
}

func TestComponentFlagsNameFilesInitWrites(t *testing.T) {
	t.Parallel()
	o := clusterFileOptions(t)
	mustInit(t, o)
	for _, c := range Components() {
		for _, node := range []string{"", "w1"} {
			if node != "" && c != "kubelet" {
				continue
			}
			out, err := ComponentFlags(o, c, node)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, field := range strings.FieldsFunc(out, func(r rune) bool { return r == '=' || r == ' ' || r == '\n' }) {
				if strings.HasPrefix(field, o.KubeconfigDir) {
					n++
					if _, err := os.Stat(field); err != nil {
						t.Errorf("%s flags name %s, which init did not write: %v", c, field, err)
					}
				}
			}
			if n == 0 {
				t.Errorf("%s flags name no file:\n%s", c, out)
			}
		}
	}
	if _, err := ComponentFlags(o, "kube-proxy-typo", ""); err == nil {
		t.Error("ComponentFlags(unknown) succeeded")
	}
}

// TestRenewNodeKubeconfigUpdatesCertFiles renews a node kubeconfig from a
// cluster file with new keys: the certificate files next to it follow.
func TestRenewNodeKubeconfigUpdatesCertFiles(t *testing.T) {
	t.Parallel()
	o := clusterFileOptions(t)
	mustInit(t, o)
	conf := filepath.Join(o.KubeconfigDir, "nodes", "w1", "kubelet.conf")
	old, err := readEmbedded(conf)
	if err != nil {
		t.Fatal(err)
	}
	later := testStart.Add(100 * 24 * time.Hour)
	o.Now = func() time.Time { return later }
	if _, err := Renew(t.Context(), o, RenewOptions{Names: []string{"nodes/w1/kubelet.conf", "nodes/w1/kubelet"}, RotateKeys: true}); err != nil {
		t.Fatal(err)
	}
	e, err := readEmbedded(conf)
	if err != nil {
		t.Fatal(err)
	}
	client := readCert(t, filepath.Join(o.CertDir, "nodes", "w1", "kubelet-client.crt"))
	if !client.Equal(e.cert) || e.cert.Equal(old.cert) || !e.cert.NotAfter.Equal(later.Add(DefaultCertValidity)) {
		t.Error("kubelet-client.crt is not the renewed certificate of nodes/w1/kubelet.conf")
	}
	if pki.PublicKeysEqual(e.cert.PublicKey, old.cert.PublicKey) {
		t.Error("--rotate-keys kept the key")
	}
	serving := readCert(t, filepath.Join(o.CertDir, "nodes", "w1", "kubelet.crt"))
	if !serving.NotAfter.Equal(later.Add(DefaultCertValidity)) {
		t.Error("nodes/w1/kubelet serving certificate not renewed")
	}
	// Everything still verifies as a whole.
	if _, err := Init(t.Context(), o); err != nil {
		t.Fatalf("Init after renew: %v", err)
	}
}

// TestRenewRotateKeysReplacesUnreadableKey: a lost or damaged key is no
// obstacle with --rotate-keys, and the error without it says so.
func TestRenewRotateKeysReplacesUnreadableKey(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	keyPath := filepath.Join(o.CertDir, "apiserver.key")
	if err := os.WriteFile(keyPath, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver"}}); err == nil || !strings.Contains(err.Error(), "--rotate-keys") {
		t.Fatalf("Renew with a damaged key = %v, want advice to use --rotate-keys", err)
	}
	if _, err := Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver"}, RotateKeys: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(t.Context(), o); err != nil {
		t.Errorf("Init after renewing with a new key: %v", err)
	}
}

// TestRenewKeepsClusterNetworkNames: a cluster made with another service
// CIDR or DNS domain renews without being told them again, keeping every
// SAN, while a cluster file that says otherwise still blocks a renewal
// that lacks its names.
func TestRenewKeepsClusterNetworkNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		serviceCIDR string
		dnsDomain   string
		serviceIP   string
	}{
		{"other CIDR and domain", "10.100.0.0/16", "corp.local", "10.100.0.1"},
		{"IPv6 primary", "fd00:10:96::/112,10.96.0.0/12", DefaultDNSDomain, "fd00:10:96::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions(t)
			o.ServiceCIDR, o.DNSDomain = tc.serviceCIDR, tc.dnsDomain
			mustInit(t, o)
			apiPath := filepath.Join(o.CertDir, "apiserver.crt")
			old := readCert(t, apiPath)
			later := testStart.Add(100 * 24 * time.Hour)

			// What the certs commands pass: no network settings.
			unknown := o
			unknown.ServiceCIDR, unknown.DNSDomain = "", ""
			unknown.Now = func() time.Time { return later }
			if _, err := Renew(t.Context(), unknown, RenewOptions{Names: []string{"all"}}); err != nil {
				t.Fatalf("Renew(all) without network settings: %v", err)
			}
			api := readCert(t, apiPath)
			if !api.NotAfter.Equal(later.Add(DefaultCertValidity)) {
				t.Errorf("apiserver.crt valid until %s, want %s: not renewed", api.NotAfter, later.Add(DefaultCertValidity))
			}
			if diff := cmp.Diff(describe(old), describe(api)); diff != "" {
				t.Errorf("renewal changed subject, SANs or usages (-old +new):\n%s", diff)
			}
			if !slices.ContainsFunc(api.IPAddresses, func(ip net.IP) bool { return ip.String() == tc.serviceIP }) {
				t.Errorf("renewed apiserver IPs %v lack the service IP %s", api.IPAddresses, tc.serviceIP)
			}

			// The cluster's own settings pass too.
			known := o
			known.Now = unknown.Now
			if _, err := Renew(t.Context(), known, RenewOptions{Names: []string{"apiserver"}}); err != nil {
				t.Errorf("Renew(apiserver) with the cluster's settings: %v", err)
			}

			// Settings that say kubeadm's defaults are judged, and refused.
			wrong := unknown
			wrong.ServiceCIDR, wrong.DNSDomain = DefaultServiceCIDR, "other.example"
			before := snapshot(t, o.KubeconfigDir)
			_, err := Renew(t.Context(), wrong, RenewOptions{Names: []string{"all"}})
			lintErr, ok := errors.AsType[*LintError](err)
			if !ok || !slices.Contains(lintErr.Rules, "L14") || lintErr.Fix == "" {
				t.Fatalf("Renew(all) with settings the certificate lacks = %v, want a *LintError for L14 with a fix", err)
			}
			if diff := cmp.Diff(before, snapshot(t, o.KubeconfigDir)); diff != "" {
				t.Errorf("refused renew changed files:\n%s", diff)
			}
		})
	}
}

// TestLostSANs: a renewal that would lose any kind of SAN is named.
func TestLostSANs(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("spiffe://cluster.local/ns/a")
	old := &x509.Certificate{DNSNames: []string{"a", "b"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("fd00::1")},
		URIs: []*url.URL{u}, EmailAddresses: []string{"x@example.com"}}
	same := &x509.Certificate{DNSNames: []string{"b", "a", "c"}, IPAddresses: []net.IP{net.ParseIP("fd00::1"), net.IPv4(10, 0, 0, 1).To4()},
		URIs: []*url.URL{u}, EmailAddresses: []string{"x@example.com"}}
	if got := lostSANs(old, same); len(got) != 0 {
		t.Errorf("lostSANs(old, superset) = %q, want none", got)
	}
	want := []string{"DNS:b", "IP:fd00::1", "URI:spiffe://cluster.local/ns/a", "email:x@example.com"}
	fewer := &x509.Certificate{DNSNames: []string{"a"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}
	if diff := cmp.Diff(want, lostSANs(old, fewer)); diff != "" {
		t.Errorf("lostSANs (-want +got):\n%s", diff)
	}
}

// TestRenewWarnsWhenCappedAtCA: a renewal the CA's expiry cuts short says
// so instead of silently issuing less than asked.
func TestRenewWarnsWhenCappedAtCA(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.CAValidity = 2 * 365 * 24 * time.Hour
	mustInit(t, o)
	ca := readCert(t, filepath.Join(o.CertDir, "ca.crt"))
	later := testStart.Add(500 * 24 * time.Hour)
	o.Now = func() time.Time { return later }
	res, err := Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver", "admin.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	api := readCert(t, filepath.Join(o.CertDir, "apiserver.crt"))
	if !api.NotAfter.Equal(ca.NotAfter) {
		t.Fatalf("renewed apiserver.crt valid until %s, want the CA's %s", api.NotAfter, ca.NotAfter)
	}
	if len(res.Warnings) != 1 || !containsAll(res.Warnings[0], "apiserver.crt", "admin.conf", ca.NotAfter.UTC().Format(time.RFC3339), "8760h0m0s") {
		t.Errorf("warnings %q, want one naming apiserver.crt, admin.conf, the CA's expiry and the validity asked for", res.Warnings)
	}

	// Within the CA's lifetime there is nothing to say.
	o.Now = func() time.Time { return testStart.Add(time.Hour) }
	res, err = Renew(t.Context(), o, RenewOptions{Names: []string{"apiserver"}})
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("Renew within the CA's lifetime = %v, warnings %q; want none", err, res.Warnings)
	}
}

// TestRenewAllFindsNothing: "all" on folders that hold none of the
// cluster's files is an error naming them, not a silent success.
func TestRenewAllFindsNothing(t *testing.T) {
	t.Parallel()
	made := testOptions(t)
	mustInit(t, made)
	tests := []struct {
		name          string
		certDir       string
		kubeconfigDir string
	}{
		{"both folders empty", t.TempDir(), t.TempDir()},
		{"both folders missing", filepath.Join(t.TempDir(), "nothere"), filepath.Join(t.TempDir(), "nothere")},
		{"wrong cert folder, right kubeconfig folder", t.TempDir(), made.KubeconfigDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := made
			o.CertDir, o.KubeconfigDir = tc.certDir, tc.kubeconfigDir
			before := snapshot(t, made.KubeconfigDir)
			_, err := Renew(t.Context(), o, RenewOptions{Names: []string{"all"}})
			if !errors.Is(err, ErrNothingToRenew) || !containsAll(err.Error(), tc.certDir, tc.kubeconfigDir) {
				t.Fatalf("Renew(all) = %v, want %v naming %s and %s", err, ErrNothingToRenew, tc.certDir, tc.kubeconfigDir)
			}
			if diff := cmp.Diff(before, snapshot(t, made.KubeconfigDir)); diff != "" {
				t.Errorf("Renew(all) changed files:\n%s", diff)
			}
		})
	}
}

// TestCheckExpirationNotEmbeddedAdvice: a kubeconfig that names its
// client certificate by path cannot be checked, and the advice is one
// check-expiration can follow (it has no --force).
func TestCheckExpirationNotEmbeddedAdvice(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	path := filepath.Join(o.KubeconfigDir, "scheduler.conf")
	cfg, err := kubeconfig.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.ClientCertificateData, u.ClientCertificate = nil, filepath.Join(o.CertDir, "scheduler.crt")
	}
	data, err := kubeconfig.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(path, data, pki.ModeKubeconfig); err != nil {
		t.Fatal(err)
	}
	_, err = CheckExpiration(o)
	if !errors.Is(err, ErrNoEmbeddedCert) || !containsAll(err.Error(), path, "--embed-certs", "kubepki-backup-") || strings.Contains(err.Error(), "--force") {
		t.Errorf("CheckExpiration = %v, want %v naming %s with advice to embed the certificate and no --force", err, ErrNoEmbeddedCert, path)
	}
}
