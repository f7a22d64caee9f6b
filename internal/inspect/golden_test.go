package inspect

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureNow is the clock of the golden tests: five months into the
// fixtures' validity.
var fixtureNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// copyFixtures copies testdata/fixtures to a temporary folder with the
// modes kubeadm uses (keys and kubeconfigs 0600, the rest 0644), since git
// does not keep file modes, and returns the folder.
func copyFixtures(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", "fixtures")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(p, ".key") || strings.HasSuffix(p, ".conf") || strings.HasSuffix(p, ".pub") {
			mode = 0o600
		}
		if err := os.WriteFile(target, data, mode); err != nil {
			return err
		}
		return os.Chmod(target, mode)
	})
	if err != nil {
		t.Fatalf("copy fixtures: %v", err)
	}
	return dst
}

// checkGolden compares got with testdata/<test name>.golden, or rewrites
// it under -update.
func checkGolden(t *testing.T, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestInspectGolden(t *testing.T) {
	t.Parallel()
	dir := copyFixtures(t)
	tests := []struct {
		name  string
		paths []string
		json  bool
	}{
		{name: "pki", paths: []string{"pki"}},
		{name: "kubeconfig", paths: []string{"kubelet.conf"}},
		{name: "escaped-bundle", paths: []string{"users/bundle.pem"}},
		{name: "csr-and-public-key", paths: []string{"n2.csr", "sa.pub"}},
		{name: "der", paths: []string{"pki/etcd/server.der", "pki/etcd/ca.crt"}},
		{name: "all-json", paths: []string{"."}, json: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var paths []string
			for _, p := range tc.paths {
				paths = append(paths, filepath.Join(dir, p))
			}
			rep, err := Inspect(paths, Options{Now: func() time.Time { return fixtureNow }})
			if err != nil {
				t.Fatalf("Inspect(%q) = %v", tc.paths, err)
			}
			var out bytes.Buffer
			if tc.json {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				out.Write(append(b, '\n'))
			} else if err := rep.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			got := bytes.ReplaceAll(out.Bytes(), []byte(dir+string(filepath.Separator)), nil)
			if bytes.ContainsRune(got, 0x1b) {
				t.Errorf("output carries an escape character:\n%q", got)
			}
			checkGolden(t, got)
		})
	}
}

func TestLintGolden(t *testing.T) {
	t.Parallel()
	dir := copyFixtures(t)
	rep, err := Lint([]string{dir}, LintOptions{Context: Context{Now: fixtureNow}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, bytes.ReplaceAll(out.Bytes(), []byte(dir+string(filepath.Separator)), nil))
}

func TestInspectManifestGolden(t *testing.T) {
	t.Parallel()
	dir := copyFixtures(t)
	rep, err := InspectManifest(filepath.Join(dir, "manifests", "kube-apiserver.yaml"), Options{Now: func() time.Time { return fixtureNow }}, Context{Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, bytes.ReplaceAll(out.Bytes(), []byte(dir+string(filepath.Separator)), nil))
}
