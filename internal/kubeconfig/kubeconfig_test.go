package kubeconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestNewCertConfigShape(t *testing.T) {
	t.Parallel()
	cfg := NewCertConfig("kubernetes", "https://10.0.0.1:6443", []byte("CA"), "kubernetes-admin", []byte("CERT"), []byte("KEY"))
	if got, want := cfg.CurrentContext, "kubernetes-admin@kubernetes"; got != want {
		t.Errorf("CurrentContext = %q, want %q", got, want)
	}
	kctx := cfg.Contexts["kubernetes-admin@kubernetes"]
	if kctx == nil || kctx.Cluster != "kubernetes" || kctx.AuthInfo != "kubernetes-admin" || kctx.Namespace != "" {
		t.Fatalf("context = %+v, want cluster kubernetes, user kubernetes-admin, no namespace", kctx)
	}
	c := cfg.Clusters["kubernetes"]
	if c == nil || c.Server != "https://10.0.0.1:6443" || string(c.CertificateAuthorityData) != "CA" || c.CertificateAuthority != "" {
		t.Fatalf("cluster = %+v, want embedded CA and server", c)
	}
	u := cfg.AuthInfos["kubernetes-admin"]
	if u == nil || string(u.ClientCertificateData) != "CERT" || string(u.ClientKeyData) != "KEY" || u.ClientCertificate != "" {
		t.Fatalf("user = %+v, want embedded cert and key", u)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Errorf("got %d clusters, %d users, %d contexts, want one of each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "admin.conf")
	want := NewCertConfig("kubernetes", "https://127.0.0.1:6443", []byte("CA"), "jane", []byte("CERT"), []byte("KEY"))
	if err := Write(path, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %o, want 600", got)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".LocationOfOrigin"
	}, cmp.Ignore())); d != "" {
		t.Errorf("Read(Write(cfg)) mismatch (-want +got):\n%s", d)
	}
	if got.Contexts["jane@kubernetes"].LocationOfOrigin != path {
		t.Errorf("LocationOfOrigin = %q, want %q", got.Contexts["jane@kubernetes"].LocationOfOrigin, path)
	}
	// Replacing an existing file works and keeps the mode.
	if err := Write(path, clientcmdapi.NewConfig()); err != nil {
		t.Fatalf("Write over existing: %v", err)
	}
	if got, err := Read(path); err != nil || len(got.Contexts) != 0 {
		t.Errorf("Read after overwrite = %v, %v; want empty config", got, err)
	}
}

func TestWriteRefusesSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, clientcmdapi.NewConfig()); err == nil {
		t.Fatal("Write through a symlink succeeded, want an error")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("symlink target changed to %q", b)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Read(filepath.Join(dir, "missing.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) = %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("clusters: [: nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bad); err == nil {
		t.Error("Read(bad) succeeded, want an error")
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Read(empty); err != nil || len(cfg.Clusters) != 0 {
		t.Errorf("Read(empty) = %v, %v; want empty config", cfg, err)
	}
}
