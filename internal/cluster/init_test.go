package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInitCreatesThenKeeps(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	res := mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusCreated {
			t.Errorf("first run: %s is %s, want created", f.Path, f.Status)
		}
	}
	res = mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusUnchanged {
			t.Errorf("second run: %s is %s, want unchanged", f.Path, f.Status)
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q, want none", res.Warnings)
	}
	t.Log(keys(snapshot(t, o.KubeconfigDir)))
}

// TestInitExternalCA checks kubeadm's external-CA mode: with ca.key
// absent, existing files signed by ca.crt are kept, and a missing one
// cannot be made.
func TestInitExternalCA(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	if err := os.Remove(filepath.Join(o.CertDir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	res := mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusUnchanged {
			t.Errorf("external CA: %s %s, want unchanged", f.Status, f.Path)
		}
	}
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Remove(filepath.Join(o.CertDir, "apiserver"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, o.KubeconfigDir)
	if _, err := Init(t.Context(), o); !errors.Is(err, ErrExternalCA) {
		t.Fatalf("Init with external CA and missing apiserver = %v, want %v", err, ErrExternalCA)
	}
	if diff := cmp.Diff(before, snapshot(t, o.KubeconfigDir)); diff != "" {
		t.Errorf("failed Init changed the folder:\n%s", diff)
	}
}
