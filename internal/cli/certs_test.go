package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

func dirArgs(dir string) []string {
	return []string{"--cert-dir", filepath.Join(dir, "pki"), "--kubeconfig-dir", dir}
}

func initDir(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if _, errOut, code := execPKI(t, initArgs(dir, extra...)...); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	return dir
}

func TestCheckExpirationCommand(t *testing.T) {
	t.Parallel()
	dir := initDir(t, "--cert-validity", "500h")
	out, errOut, code := execPKI(t, append([]string{"certs", "check-expiration"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	header := regexp.MustCompile(`(?m)^CERTIFICATE {16}EXPIRES {18}RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED$`)
	row := regexp.MustCompile(`(?m)^apiserver {18}[A-Z][a-z]{2} \d\d, \d{4} \d\d:\d\d UTC   20d {13}ca {22}no$`)
	caRow := regexp.MustCompile(`(?m)^etcd-ca {17}[A-Z][a-z]{2} \d\d, \d{4} \d\d:\d\d UTC   (9y|9y364d|10y) +no$`)
	for _, re := range []*regexp.Regexp{header, row, caRow} {
		if !re.MatchString(out) {
			t.Errorf("check-expiration output does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "kubelet.conf") {
		t.Error("check-expiration lists kubelet.conf, which kubeadm leaves out")
	}

	out, _, code = execPKI(t, append([]string{"certs", "check-expiration", "-o", "json"}, dirArgs(dir)...)...)
	var info struct {
		APIVersion   string `json:"apiVersion"`
		Kind         string `json:"kind"`
		Certificates []struct {
			Name         string `json:"name"`
			ResidualTime int64  `json:"residualTime"`
			CAName       string `json:"caName"`
		} `json:"certificates"`
		CertificateAuthorities []struct{ Name string } `json:"certificateAuthorities"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || code != 0 {
		t.Fatalf("-o json exit %d: %v\n%s", code, err, out)
	}
	if info.Kind != "CertificateExpirationInfo" || len(info.Certificates) != 11 || len(info.CertificateAuthorities) != 3 {
		t.Errorf("-o json: %s with %d certificates, %d CAs", info.Kind, len(info.Certificates), len(info.CertificateAuthorities))
	}

	// --fail-within: 500h left is within 720h.
	_, errOut, code = execPKI(t, append([]string{"certs", "check-expiration", "--fail-within", "720h"}, dirArgs(dir)...)...)
	if code == 0 || !strings.Contains(errOut, "apiserver") {
		t.Errorf("--fail-within 720h exit %d, stderr %q; want non-zero naming apiserver", code, errOut)
	}
	_, errOut, code = execPKI(t, append([]string{"certs", "check-expiration", "--fail-within", "100h"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Errorf("--fail-within 100h exit %d: %s", code, errOut)
	}
	// A missing file is marked, and fails --fail-within.
	os.Remove(filepath.Join(dir, "scheduler.conf"))
	out, _, code = execPKI(t, append([]string{"certs", "check-expiration", "--fail-within", "1h"}, dirArgs(dir)...)...)
	if code == 0 || !strings.Contains(out, "!MISSING! scheduler.conf") {
		t.Errorf("missing scheduler.conf: exit %d\n%s", code, out)
	}
	// As data, a missing file has no expiration date: null, as kubeadm
	// writes it, not year 1.
	out, _, _ = execPKI(t, append([]string{"certs", "check-expiration", "-o", "json"}, dirArgs(dir)...)...)
	var raw struct {
		Certificates []map[string]json.RawMessage `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	seen := 0
	for _, c := range raw.Certificates {
		missing := string(c["missing"]) == "true"
		date := string(c["expirationDate"])
		if missing != (string(c["name"]) == `"scheduler.conf"`) || (missing && date != "null") || (!missing && !strings.HasPrefix(date, `"20`)) {
			t.Errorf("-o json row %s: missing %s, expirationDate %s", c["name"], c["missing"], date)
		}
		if missing {
			seen++
		}
	}
	if seen != 1 {
		t.Errorf("-o json has %d missing rows, want scheduler.conf alone", seen)
	}
}

// TestCheckExpirationUnreadable: a certificate file that holds something
// else (here its own key) stops check-expiration with an error that
// names the file and says what to do, without repeating itself or
// telling to pass the .crt file it already is.
func TestCheckExpirationUnreadable(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	pkiDir := filepath.Join(dir, "pki")
	key, err := os.ReadFile(filepath.Join(pkiDir, "apiserver-kubelet-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	crt := filepath.Join(pkiDir, "apiserver-kubelet-client.crt")
	if err := os.WriteFile(crt, key, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := execPKI(t, append([]string{"certs", "check-expiration"}, dirArgs(dir)...)...)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want exit 1 and nothing", code, out)
	}
	for _, want := range []string{crt, "holds something else", "restore it from a backup"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	for _, bad := range []string{"pass the .crt file", "check expiration: "} {
		if strings.Contains(errOut, bad) {
			t.Errorf("stderr %q says %q", errOut, bad)
		}
	}
}

func TestRenewCommand(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	before := pkiFolderState(t, dir)
	out, errOut, code := execPKI(t, append([]string{"certs", "renew", "apiserver", "admin.conf"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Fatalf("renew exit %d: %s", code, errOut)
	}
	for _, want := range []string{"renewed", filepath.Join(dir, "pki", "apiserver.crt"), filepath.Join(dir, "admin.conf"), "backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("renew stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "restart the kube-apiserver") {
		t.Errorf("renew stderr %q lacks the restart advice", errOut)
	}
	after := pkiFolderState(t, dir)
	if before["pki/apiserver.crt"] == after["pki/apiserver.crt"] || before["pki/apiserver.key"] != after["pki/apiserver.key"] {
		t.Error("renew did not replace apiserver.crt or changed apiserver.key without --rotate-keys")
	}
	if before["pki/apiserver-kubelet-client.crt"] != after["pki/apiserver-kubelet-client.crt"] {
		t.Error("renew apiserver also changed apiserver-kubelet-client.crt")
	}
	_, errOut, code = execPKI(t, append([]string{"certs", "renew", "apiserver-typo"}, dirArgs(dir)...)...)
	if code != 2 || !strings.Contains(errOut, "apiserver-typo") {
		t.Errorf("renew of unknown name: exit %d, %q", code, errOut)
	}
	_, _, code = execPKI(t, append([]string{"certs", "renew"}, dirArgs(dir)...)...)
	if code != 1 && code != 2 {
		t.Errorf("renew without names: exit %d", code)
	}
}

func TestIssueUserCommandWithKubectl(t *testing.T) {
	t.Parallel()
	kubectl := pkitest.RequireTool(t, "kubectl")
	openssl := pkitest.RequireTool(t, "openssl")
	dir := initDir(t, "--control-plane-endpoint", "k8s.example.com")
	out, errOut, code := execPKI(t, append([]string{"certs", "issue", "user", "jane", "--group", "dev", "--group", "ops"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Fatalf("issue user exit %d: %s", code, errOut)
	}
	conf := filepath.Join(dir, "users", "jane.conf")
	if !strings.Contains(out, conf) {
		t.Errorf("issue user stdout lacks %s:\n%s", conf, out)
	}
	home := t.TempDir()
	cmd := exec.Command(kubectl, "config", "view", "--raw", "--kubeconfig", conf, "-o", "jsonpath={.clusters[0].cluster.server} {.current-context}")
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECACHEDIR="+home+"/cache", "KUBECONFIG=")
	b, err := cmd.CombinedOutput()
	if err != nil || string(b) != "https://k8s.example.com:6443 jane@kubernetes" {
		t.Errorf("kubectl config view: %v %q", err, b)
	}
	b, err = exec.Command(openssl, "x509", "-noout", "-subject", "-in", filepath.Join(dir, "pki", "users", "jane.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "O = dev + O = ops, CN = jane") {
		t.Errorf("openssl x509 -subject: %v %s", err, b)
	}
	b, err = exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "pki", "ca.crt"), filepath.Join(dir, "pki", "users", "jane.crt")).CombinedOutput()
	if err != nil {
		t.Errorf("openssl verify: %v %s", err, b)
	}

	// Node issuance; upper-case names are refused.
	_, errOut, code = execPKI(t, append([]string{"certs", "issue", "node", "Worker1"}, dirArgs(dir)...)...)
	if code != 2 || !strings.Contains(errOut, `use "worker1"`) {
		t.Errorf("issue node Worker1: exit %d, %q", code, errOut)
	}
	_, errOut, code = execPKI(t, append([]string{"certs", "issue", "node", "worker1", "--ip", "10.0.0.21", "--dns", "worker1.example.com"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Fatalf("issue node exit %d: %s", code, errOut)
	}
	b, err = exec.Command(openssl, "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", filepath.Join(dir, "pki", "nodes", "worker1", "kubelet.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "DNS:worker1, DNS:worker1.example.com, IP Address:10.0.0.21") || !strings.Contains(string(b), "TLS Web Server Authentication") {
		t.Errorf("openssl x509 -ext of the node serving certificate: %v\n%s", err, b)
	}

	// Without admin.conf and --server there is no server to write.
	empty := t.TempDir()
	_, errOut, code = execPKI(t, append([]string{"certs", "issue", "user", "bob"}, dirArgs(empty)...)...)
	if code != 2 || !strings.Contains(errOut, "--server") {
		t.Errorf("issue user without admin.conf: exit %d, %q", code, errOut)
	}
}

func TestCertsFlagsCommand(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	out, errOut, code := execPKI(t, append([]string{"certs", "flags", "kube-apiserver"}, dirArgs(dir)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"--client-ca-file=" + filepath.Join(dir, "pki", "ca.crt"),
		"--etcd-certfile=" + filepath.Join(dir, "pki", "apiserver-etcd-client.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("kube-apiserver flags lack %s:\n%s", want, out)
		}
	}
	out, _, code = execPKI(t, append([]string{"certs", "flags", "kubelet"}, dirArgs(dir)...)...)
	if code != 0 || !strings.Contains(out, "kind: KubeletConfiguration") || !strings.Contains(out, "clientCAFile: "+filepath.Join(dir, "pki", "ca.crt")) {
		t.Errorf("kubelet config exit %d:\n%s", code, out)
	}
	_, errOut, code = execPKI(t, "certs", "flags", "kube-proxyy")
	if code != 2 || !strings.Contains(errOut, "kube-apiserver") {
		t.Errorf("unknown component: exit %d, %q", code, errOut)
	}
}

// TestCertsRenewAllNonDefaultNetwork: "certs renew all" renews a cluster
// made with another service CIDR or DNS domain without being told them,
// and the renewed apiserver.crt, read by openssl, keeps the cluster's
// names and chains to the CA.
func TestCertsRenewAllNonDefaultNetwork(t *testing.T) {
	t.Parallel()
	openssl := pkitest.RequireTool(t, "openssl")
	tests := []struct {
		name      string
		flags     []string
		wantNames []string
	}{
		{"other CIDR and domain", []string{"--service-cidr", "10.100.0.0/16", "--service-dns-domain", "corp.local"},
			[]string{"DNS:kubernetes.default.svc.corp.local", "IP Address:10.100.0.1", "IP Address:10.0.0.10"}},
		{"IPv6 primary", []string{"--service-cidr", "fd00:10:96::/112,10.96.0.0/12"},
			[]string{"DNS:kubernetes.default.svc.cluster.local", "IP Address:FD00:10:96:0:0:0:0:1", "IP Address:10.0.0.10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := initDir(t, tc.flags...)
			api := filepath.Join(dir, "pki", "apiserver.crt")
			oldSANs := runOpenSSL(t, openssl, "x509", "-noout", "-ext", "subjectAltName", "-in", api)
			oldSerial := runOpenSSL(t, openssl, "x509", "-noout", "-serial", "-in", api)
			out, errOut, code := execPKI(t, append([]string{"certs", "renew", "all"}, dirArgs(dir)...)...)
			if code != 0 {
				t.Fatalf("renew all exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "renewed  "+api) {
				t.Errorf("renew all output does not renew %s:\n%s", api, out)
			}
			sans := runOpenSSL(t, openssl, "x509", "-noout", "-ext", "subjectAltName", "-in", api)
			if sans != oldSANs {
				t.Errorf("renewed SANs\n%s\nwant the old\n%s", sans, oldSANs)
			}
			for _, n := range tc.wantNames {
				if !strings.Contains(sans, n) {
					t.Errorf("renewed apiserver.crt SANs lack %s:\n%s", n, sans)
				}
			}
			if serial := runOpenSSL(t, openssl, "x509", "-noout", "-serial", "-in", api); serial == oldSerial {
				t.Errorf("apiserver.crt serial %s unchanged: not renewed", serial)
			}
			runOpenSSL(t, openssl, "verify", "-CAfile", filepath.Join(dir, "pki", "ca.crt"), api)
		})
	}
}

// TestValidityMinimum: init and renew refuse a validity that would issue
// certificates expiring at once, and accept the minimum.
func TestValidityMinimum(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	before := pkiFolderState(t, dir)
	tests := []struct {
		name string
		args []string
	}{
		{"init 1s", initArgs(t.TempDir(), "--cert-validity", "1s")},
		{"init CA 1m", initArgs(t.TempDir(), "--ca-validity", "1m", "--cert-validity", "1m")},
		{"renew 1m", append([]string{"certs", "renew", "apiserver", "--cert-validity", "1m"}, dirArgs(dir)...)},
		{"renew 9m59s", append([]string{"certs", "renew", "all", "--cert-validity", "9m59s"}, dirArgs(dir)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := execPKI(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, "minimum 10m0s") {
				t.Errorf("%v: exit %d, stderr %q; want 2 naming the minimum", tc.args, code, errOut)
			}
		})
	}
	if diff := cmp.Diff(before, pkiFolderState(t, dir)); diff != "" {
		t.Errorf("refused renew changed files:\n%s", diff)
	}
	if _, errOut, code := execPKI(t, append([]string{"certs", "renew", "apiserver", "--cert-validity", "10m"}, dirArgs(dir)...)...); code != 0 {
		t.Errorf("renew --cert-validity 10m: exit %d: %s", code, errOut)
	}
}

// TestCertsRenewAllWrongFolder: renew all with a --cert-dir that holds
// nothing fails naming the folder instead of reporting success.
func TestCertsRenewAllWrongFolder(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	wrong := filepath.Join(t.TempDir(), "nothere")
	_, errOut, code := execPKI(t, "certs", "renew", "all", "--cert-dir", wrong, "--kubeconfig-dir", filepath.Join(t.TempDir(), "k"))
	if code != 1 || !strings.Contains(errOut, wrong) || strings.Contains(errOut, "Done renewing") {
		t.Errorf("renew all --cert-dir %s: exit %d, stderr %q; want 1 naming the folder", wrong, code, errOut)
	}
	// The right folders still renew.
	if _, errOut, code := execPKI(t, append([]string{"certs", "renew", "all"}, dirArgs(dir)...)...); code != 0 || !strings.Contains(errOut, "Done renewing") {
		t.Errorf("renew all: exit %d: %s", code, errOut)
	}
}

// lintFindings runs lint -o json with args and returns rule → fix.
func lintFindings(t *testing.T, args ...string) map[string]string {
	t.Helper()
	out, errOut, _ := execPKI(t, append([]string{"lint", "-o", "json", "--warn-within", "0"}, args...)...)
	var report struct {
		Findings []struct{ Rule, Source, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("lint -o json: %v\n%s\n%s", err, out, errOut)
	}
	got := map[string]string{}
	for _, f := range report.Findings {
		got[f.Rule] = f.Fix
	}
	return got
}

// TestLintFixesThatWork follows the fixes lint gives for a missing sa.pub
// (L42) and for an apiserver certificate without the cluster's default
// names (L14), and checks that they repair the folder.
func TestLintFixesThatWork(t *testing.T) {
	t.Parallel()
	t.Run("L42 sa.pub", func(t *testing.T) {
		t.Parallel()
		dir := initDir(t)
		saKey := filepath.Join(dir, "pki", "sa.key")
		key, err := os.ReadFile(saKey)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "pki", "sa.pub"))
		fix, ok := lintFindings(t, dir)["L42"]
		if !ok || !strings.Contains(fix, "sa.pub is made again from sa.key by rerunning kubepki init") {
			t.Fatalf("lint of a folder without sa.pub: L42 fix %q, want rerunning init", fix)
		}
		if _, errOut, code := execPKI(t, initArgs(dir)...); code != 0 {
			t.Fatalf("init: exit %d: %s", code, errOut)
		}
		if now, err := os.ReadFile(saKey); err != nil || string(now) != string(key) {
			t.Error("rerunning init changed sa.key")
		}
		if f := lintFindings(t, dir); len(f) != 0 {
			t.Errorf("lint after rerunning init: %v", f)
		}
	})
	t.Run("L14 apiserver names", func(t *testing.T) {
		t.Parallel()
		// Made for the default service CIDR, the cluster's is another.
		dir := initDir(t)
		cluster := []string{"--service-cidr", "10.100.0.0/16", "--service-dns-domain", "corp.local"}
		fix, ok := lintFindings(t, append(cluster, dir)...)["L14"]
		if !ok || !containsAll(fix, "--service-cidr", "move apiserver.crt and apiserver.key aside", "rerun kubepki init") {
			t.Fatalf("lint: L14 fix %q, want linting with the cluster's settings or moving the pair aside and rerunning init", fix)
		}
		aside := t.TempDir()
		for _, f := range []string{"apiserver.crt", "apiserver.key"} {
			if err := os.Rename(filepath.Join(dir, "pki", f), filepath.Join(aside, f)); err != nil {
				t.Fatal(err)
			}
		}
		if _, errOut, code := execPKI(t, initArgs(dir, cluster...)...); code != 0 {
			t.Fatalf("init with the cluster's settings: exit %d: %s", code, errOut)
		}
		if f := lintFindings(t, append(cluster, dir)...); len(f) != 0 {
			t.Errorf("lint after following the fix: %v", f)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestCheckExpirationNotEmbedded: a kubeconfig naming its client
// certificate by path makes check-expiration fail with advice it can
// follow (no --force), and following it works.
func TestCheckExpirationNotEmbedded(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	path := filepath.Join(dir, "scheduler.conf")
	cfg, err := kubeconfig.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "scheduler.crt"), filepath.Join(dir, "scheduler.key")
	user := cfg.AuthInfos["system:kube-scheduler"]
	if err := os.WriteFile(crt, user.ClientCertificateData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, user.ClientKeyData, 0o600); err != nil {
		t.Fatal(err)
	}
	user.ClientCertificateData, user.ClientKeyData, user.ClientCertificate, user.ClientKey = nil, nil, crt, key
	data, err := kubeconfig.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := execPKI(t, append([]string{"certs", "check-expiration"}, dirArgs(dir)...)...)
	if code != 1 || strings.Contains(errOut, "--force") || !strings.Contains(errOut, "--embed-certs") {
		t.Fatalf("check-expiration: exit %d, stderr %q; want 1 with advice to embed, not --force", code, errOut)
	}
	if _, errOut, code := execPKI(t, "config", "set-credentials", "system:kube-scheduler", "--client-certificate", crt,
		"--client-key", key, "--embed-certs", "--kubeconfig", path); code != 0 {
		t.Fatalf("following the advice: exit %d: %s", code, errOut)
	}
	if _, errOut, code := execPKI(t, append([]string{"certs", "check-expiration"}, dirArgs(dir)...)...); code != 0 {
		t.Errorf("check-expiration after embedding: exit %d: %s", code, errOut)
	}
}

// TestIssueUserWarnsOfPrivilegedIdentities: certs issue user issues what
// it is asked for, but warns first about system:masters (once), groups
// bound to cluster-admin and names Kubernetes reserves.
func TestIssueUserWarnsOfPrivilegedIdentities(t *testing.T) {
	t.Parallel()
	dir := initDir(t)
	for _, tc := range []struct {
		name   string
		groups []string
		want   []string // substrings, one warning line each
	}{
		{name: "jane", groups: []string{"dev"}},
		{name: "root", groups: []string{"system:masters"}, want: []string{`user "root": group system:masters is a superuser`}},
		{name: "ops", groups: []string{"kubeadm:cluster-admins", "dev"}, want: []string{`user "ops": group "kubeadm:cluster-admins" is bound to cluster-admin`}},
		{name: "system:kube-scheduler", want: []string{`user "system:kube-scheduler": user name "system:kube-scheduler" is the identity of a control-plane component`}},
	} {
		args := []string{"certs", "issue", "user", tc.name}
		for _, g := range tc.groups {
			args = append(args, "--group", g)
		}
		_, errOut, code := execPKI(t, append(args, dirArgs(dir)...)...)
		if code != 0 {
			t.Fatalf("issue user %s: exit %d: %s", tc.name, code, errOut)
		}
		if got := strings.Count(errOut, "warning: "); got != len(tc.want) {
			t.Errorf("issue user %s: %d warnings, want %d:\n%s", tc.name, got, len(tc.want), errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, "warning: "+w) {
				t.Errorf("issue user %s: stderr lacks %q:\n%s", tc.name, w, errOut)
			}
		}
	}
}
