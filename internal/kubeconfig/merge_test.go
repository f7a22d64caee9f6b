package kubeconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const mergeA = `apiVersion: v1
kind: Config
clusters:
- name: k
  cluster: {server: "https://a:6443", certificate-authority: pki/ca.crt}
- name: same
  cluster: {server: "https://same:6443"}
users:
- name: alice
  user: {client-certificate-data: QQ==, client-key-data: Qg==}
contexts:
- name: alice@k
  context: {cluster: k, user: alice}
current-context: alice@k
`

const mergeB = `apiVersion: v1
kind: Config
clusters:
- name: k
  cluster: {server: "https://b:6443"}
- name: same
  cluster: {server: "https://same:6443"}
users:
- name: bob
  user: {token: t}
contexts:
- name: bob@k
  context: {cluster: k, user: bob}
current-context: bob@k
`

func TestMerge(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"a/a.conf": mergeA, "b.conf": mergeB})
	a, b := filepath.Join(dir, "a/a.conf"), filepath.Join(dir, "b.conf")

	_, conflicts, err := Merge([]string{a, b}, PreferNone)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Merge with a conflict = %v, want *ConflictError", err)
	}
	want := []Conflict{{Kind: "cluster", Name: "k", Files: []string{a, b}}}
	if d := cmp.Diff(want, conflicts); d != "" {
		t.Errorf("conflicts (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		prefer     Prefer
		wantServer string
		wantKept   string
	}{
		{PreferFirst, "https://a:6443", a},
		{PreferLast, "https://b:6443", b},
	} {
		cfg, conflicts, err := Merge([]string{a, b}, tc.prefer)
		if err != nil {
			t.Fatalf("Merge(prefer %s): %v", tc.prefer, err)
		}
		if len(conflicts) != 1 || conflicts[0].Kept != tc.wantKept {
			t.Errorf("prefer %s: conflicts = %+v, want one kept from %s", tc.prefer, conflicts, tc.wantKept)
		}
		if got := cfg.Clusters["k"].Server; got != tc.wantServer {
			t.Errorf("prefer %s: server = %q, want %q", tc.prefer, got, tc.wantServer)
		}
		if len(cfg.Clusters) != 2 || len(cfg.AuthInfos) != 2 || len(cfg.Contexts) != 2 {
			t.Errorf("prefer %s: got %d clusters %d users %d contexts, want 2 each", tc.prefer, len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
		}
		if cfg.CurrentContext != "alice@k" {
			t.Errorf("current-context = %q, want the first file's", cfg.CurrentContext)
		}
	}
	cfg, _, _ := Merge([]string{a, b}, PreferFirst)
	if got, want := cfg.Clusters["k"].CertificateAuthority, filepath.Join(dir, "a/pki/ca.crt"); got != want {
		t.Errorf("relative CA path = %q, want %q (absolute, against its file)", got, want)
	}

	// Merging a file with itself has no conflict.
	if _, conflicts, err := Merge([]string{a, a}, PreferNone); err != nil || len(conflicts) != 0 {
		t.Errorf("Merge(a, a) = %v, %v; want no conflict", conflicts, err)
	}
	if _, _, err := Merge(nil, PreferNone); !errors.Is(err, ErrNoFiles) {
		t.Errorf("Merge(nil) = %v, want ErrNoFiles", err)
	}
	if _, _, err := Merge([]string{filepath.Join(dir, "missing")}, PreferNone); err == nil {
		t.Error("Merge(missing) succeeded, want an error")
	}
	if _, err := ParsePrefer("middle"); err == nil {
		t.Error(`ParsePrefer("middle") succeeded`)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(mergeA))
	f.Add([]byte(mergeB))
	f.Add([]byte(""))
	f.Add([]byte("apiVersion: v1\nkind: Config\npreferences: {colors: true}\nextensions: []\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"x","cluster":{"server":"https://x"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		b, err := Marshal(cfg)
		if err != nil {
			return
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(cfg)) failed: %v\n%s", err, b)
		}
		b2, err := Marshal(again)
		if err != nil {
			t.Fatalf("Marshal(Parse(Marshal(cfg))) failed: %v", err)
		}
		if string(b) != string(b2) {
			t.Fatalf("Marshal is not stable across a round trip:\n%s\n---\n%s", b, b2)
		}
	})
}
