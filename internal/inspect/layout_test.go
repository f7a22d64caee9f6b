package inspect_test

import (
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/inspect"
)

// copyTree copies the folder src to a fresh temporary folder, keeping file
// modes, and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

// TestLintDamagedTree damages a tree made by kubepki init in each way a
// control plane fails to start from, and shows that linting the folder
// (kubepki lint /etc/kubernetes) reports the damaged or missing file as an
// error, while files that are not kubeadm's are still skipped.
func TestLintDamagedTree(t *testing.T) {
	t.Parallel()
	opts := initCluster(t, "")
	clean := opts.KubeconfigDir
	read := func(t *testing.T, dir, name string) []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	write := func(t *testing.T, dir, name string, data []byte) {
		t.Helper()
		// 0600 whatever the file held, so that a key written over a
		// certificate draws no L39.
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(t *testing.T, dir, name string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// cut keeps the first n lines of a file.
	cut := func(t *testing.T, dir, name string, n int) {
		t.Helper()
		lines := strings.SplitAfter(string(read(t, dir, name)), "\n")
		write(t, dir, name, []byte(strings.Join(lines[:n], "")))
	}
	const fixL00 = "restore the file from a backup (tmp/kubepki-backup-*), or replace it with a valid PEM certificate, key, request or kubeconfig, or remove it"
	notPEM := "not a certificate, certificate request, key or kubeconfig: not PEM (no -----BEGIN line) and not DER; a .crt file holds a certificate"
	type want struct{ rule, source, message string }
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []want
	}{
		{
			name:   "apiserver.crt replaced with garbage",
			damage: func(t *testing.T, dir string) { write(t, dir, "pki/apiserver.crt", []byte("hello world garbage\n")) },
			want:   []want{{inspect.RuleUnreadable, "pki/apiserver.crt", notPEM}},
		},
		{
			name:   "etcd/peer.crt truncated after its BEGIN line",
			damage: func(t *testing.T, dir string) { cut(t, dir, "pki/etcd/peer.crt", 3) },
			want:   []want{{inspect.RuleUnreadable, "pki/etcd/peer.crt", "truncated or malformed PEM: PEM block 1 (CERTIFICATE) has a BEGIN line and no END line: the file is truncated"}},
		},
		{
			name: "ca.crt bundle with a truncated second certificate",
			damage: func(t *testing.T, dir string) {
				ca := read(t, dir, "pki/ca.crt")
				write(t, dir, "pki/ca.crt", append(ca, ca[:len(ca)/2]...))
			},
			want: []want{{inspect.RuleUnreadable, "pki/ca.crt", "truncated or malformed PEM: PEM block 2 (CERTIFICATE) has a BEGIN line and no END line: the file is truncated"}},
		},
		{
			name: "front-proxy-client.key with a body that is not base64",
			damage: func(t *testing.T, dir string) {
				write(t, dir, "pki/front-proxy-client.key", []byte("-----BEGIN EC PRIVATE KEY-----\n!!!!\n-----END EC PRIVATE KEY-----\n"))
			},
			want: []want{{inspect.RuleUnreadable, "pki/front-proxy-client.key", "truncated or malformed PEM: PEM block 1 (EC PRIVATE KEY) does not decode: its body is not base64 or its headers are broken"}},
		},
		{
			name:   "empty etcd/server.key",
			damage: func(t *testing.T, dir string) { write(t, dir, "pki/etcd/server.key", nil) },
			want:   []want{{inspect.RuleUnreadable, "pki/etcd/server.key", "empty input"}},
		},
		{
			name:   "apiserver.crt holds the key",
			damage: func(t *testing.T, dir string) { write(t, dir, "pki/apiserver.crt", read(t, dir, "pki/apiserver.key")) },
			want:   []want{{inspect.RuleUnreadable, "pki/apiserver.crt", `holds a private key (PEM "EC PRIVATE KEY"), not a certificate: a .crt file must hold a certificate`}},
		},
		{
			name:   "sa.pub holds the private key",
			damage: func(t *testing.T, dir string) { write(t, dir, "pki/sa.pub", read(t, dir, "pki/sa.key")) },
			want:   []want{{inspect.RuleUnreadable, "pki/sa.pub", `holds a private key (PEM "EC PRIVATE KEY"), not a public key: a .pub file must hold a public key`}},
		},
		{
			name: "scheduler.conf emptied to a bare kubeconfig",
			damage: func(t *testing.T, dir string) {
				write(t, dir, "scheduler.conf", []byte("apiVersion: v1\nkind: Config\n"))
			},
			want: []want{{inspect.RuleUnreadable, "scheduler.conf", "not a certificate, certificate request, key or kubeconfig: YAML without clusters, users or contexts"}},
		},
		{
			name:   "a certificate of another name that is not PEM",
			damage: func(t *testing.T, dir string) { write(t, dir, "pki/extra.pem", []byte("junk")) },
			want:   []want{{inspect.RuleUnreadable, "pki/extra.pem", "not a certificate, certificate request, key or kubeconfig: not PEM (no -----BEGIN line) and not DER"}},
		},
		{
			name: "a certificate block that does not parse",
			damage: func(t *testing.T, dir string) {
				body := base64.StdEncoding.EncodeToString([]byte("not DER"))
				write(t, dir, "pki/apiserver-etcd-client.crt", []byte("-----BEGIN CERTIFICATE-----\n"+body+"\n-----END CERTIFICATE-----\n"))
			},
			want: []want{{inspect.RuleUnreadable, "pki/apiserver-etcd-client.crt", "PEM block 1 (CERTIFICATE): x509: malformed certificate"}},
		},
		{
			name:   "apiserver.crt deleted, apiserver.key kept",
			damage: func(t *testing.T, dir string) { remove(t, dir, "pki/apiserver.crt") },
			want:   []want{{inspect.RuleMissingPair, "pki/apiserver.crt", "missing, while its private key DIR/pki/apiserver.key is present"}},
		},
		{
			name:   "etcd/healthcheck-client.key deleted",
			damage: func(t *testing.T, dir string) { remove(t, dir, "pki/etcd/healthcheck-client.key") },
			want:   []want{{inspect.RuleMissingPair, "pki/etcd/healthcheck-client.key", "missing, while its certificate DIR/pki/etcd/healthcheck-client.crt is present"}},
		},
		{
			name:   "sa.pub deleted, sa.key kept",
			damage: func(t *testing.T, dir string) { remove(t, dir, "pki/sa.pub") },
			want:   []want{{inspect.RuleMissingPair, "pki/sa.pub", "missing, while its private key DIR/pki/sa.key is present"}},
		},
		{
			// kubeadm's external CA mode and every worker node.
			name:   "CA keys removed",
			damage: func(t *testing.T, dir string) { remove(t, dir, "pki/ca.key"); remove(t, dir, "pki/etcd/ca.key") },
		},
		{
			name:   "sa.key removed, sa.pub kept",
			damage: func(t *testing.T, dir string) { remove(t, dir, "pki/sa.key") },
		},
		{
			name: "files that are not kubeadm's are still skipped",
			damage: func(t *testing.T, dir string) {
				write(t, dir, "README", []byte("notes\n"))
				write(t, dir, "pki/notes.txt", []byte("-----BEGIN CERTIFICATE-----\ncut short\n"))
				write(t, dir, "manifests.yaml", []byte("apiVersion: v1\nkind: Pod\n"))
				write(t, dir, "other.conf", []byte("key = value\n"))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyTree(t, clean)
			tc.damage(t, dir)
			rep, err := inspect.Lint([]string{dir}, inspect.LintOptions{Context: inspect.Context{APIServerAddresses: []string{opts.AdvertiseAddress}}})
			if err != nil {
				t.Fatalf("Lint = %v", err)
			}
			var got []want
			for _, f := range rep.Findings {
				if f.Severity != inspect.SeverityError || f.Fix == "" {
					t.Errorf("finding %+v: want an error with a fix", f)
				}
				if f.Rule == inspect.RuleUnreadable && f.Fix != fixL00 {
					t.Errorf("L00 fix %q, want %q", f.Fix, fixL00)
				}
				rel, err := filepath.Rel(dir, f.Source)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, want{f.Rule, filepath.ToSlash(rel), strings.ReplaceAll(f.Message, dir, "DIR")})
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			// The CLI exits 1 when Errors > 0.
			if rep.Errors != len(tc.want) {
				t.Errorf("Errors = %d, want %d", rep.Errors, len(tc.want))
			}
		})
	}
}
