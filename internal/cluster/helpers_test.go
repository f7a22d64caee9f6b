package cluster

import (
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
)

// testStart is the fixed clock of the tests.
var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testOptions are options for a fresh folder with a fixed clock.
func testOptions(t testing.TB) Options {
	t.Helper()
	return optionsIn(t.TempDir())
}

// optionsIn are the test options with their folders in dir.
func optionsIn(dir string) Options {
	o := DefaultOptions()
	o.CertDir = filepath.Join(dir, "pki")
	o.KubeconfigDir = dir
	o.NodeName = "cp1"
	o.AdvertiseAddress = "10.0.0.10"
	o.Now = func() time.Time { return testStart }
	return o
}

func mustInit(t testing.TB, o Options) *Result {
	t.Helper()
	res, err := Init(t.Context(), o)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return res
}

// snapshot maps every path under dir to its mode and content, to show
// that a failed run changed nothing.
type fileState struct {
	Mode    fs.FileMode
	Content string
}

func snapshot(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fileState{Mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			st.Content = string(b)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	c, err := pki.ReadCertificateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// crashAfter is a stage.beforeRename hook that lets n renames through and
// fails every later one with errSimulatedCrash.
func crashAfter(n int) func(string) error {
	done := 0
	return func(string) error {
		if done++; done > n {
			return errSimulatedCrash
		}
		return nil
	}
}

// failRename is a stage.beforeRename hook that fails the rename of the
// file or folder named base with err.
func failRename(base string, err error) func(string) error {
	return func(path string) error {
		if filepath.Base(path) == base {
			return err
		}
		return nil
	}
}
