package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestInitExpiredAdvisesRenew: a rerun after the leaves expired tells,
// for each, the "certs renew" name that fixes it (kubelet.conf, which
// renew leaves to the kubelet, gets the generic advice), and the advice
// works: after renew, only kubelet.conf stands in the way.
func TestInitExpiredAdvisesRenew(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	later := o
	later.Now = func() time.Time { return testStart.Add(2 * 365 * 24 * time.Hour) }
	_, err := Init(t.Context(), later)
	var mismatches []*MismatchError
	for _, e := range flatten(err) {
		if m, ok := errors.AsType[*MismatchError](e); ok {
			mismatches = append(mismatches, m)
		}
	}
	byFile := map[string]string{}
	for _, m := range mismatches {
		byFile[m.File] = m.Error()
	}
	for file, name := range map[string]string{
		filepath.Join(o.CertDir, "apiserver.crt"):      "apiserver",
		filepath.Join(o.CertDir, "etcd", "server.crt"): "etcd-server",
		filepath.Join(o.KubeconfigDir, "admin.conf"):   "admin.conf",
	} {
		msg, ok := byFile[file]
		if !ok {
			t.Fatalf("no mismatch for %s in %v", file, err)
		}
		if want := `renew it with "kubepki certs renew ` + name + `"`; !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", file, msg, want)
		}
	}
	kubelet := filepath.Join(o.KubeconfigDir, "kubelet.conf")
	if msg := byFile[kubelet]; !strings.Contains(msg, "expired on") || strings.Contains(msg, "certs renew") {
		t.Errorf("kubelet.conf: %q, want expired with the generic advice", msg)
	}

	if _, err := Renew(t.Context(), later, RenewOptions{Names: []string{"all"}}); err != nil {
		t.Fatalf("Renew(all): %v", err)
	}
	_, err = Init(t.Context(), later)
	left := flatten(err)
	if len(left) != 1 || !strings.Contains(left[0].Error(), kubelet) {
		t.Errorf("after renew, init fails with %v; want kubelet.conf alone", err)
	}
}

// flatten returns the errors joined in err, or err itself.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// TestInitForceBacksUpReplacedFiles: a CA key that does not match stops
// Init with advice that puts restoring the key first; Force then replaces
// the CA and everything it signed, and every replaced file is first
// copied, byte for byte, into a backup folder (keys and kubeconfigs 0600,
// folders 0700).
func TestInitForceBacksUpReplacedFiles(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	mustInit(t, o)
	copyFile(t, filepath.Join(o.CertDir, "front-proxy-ca.key"), filepath.Join(o.CertDir, "ca.key"))
	// A kubeconfig others may read: its copy must not be.
	if err := os.Chmod(filepath.Join(o.KubeconfigDir, "admin.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, o.KubeconfigDir)

	_, err := Init(t.Context(), o)
	mm, ok := errors.AsType[*MismatchError](err)
	if !ok || !strings.HasPrefix(mm.Fix, "restore the original") || !containsAll(mm.Fix, "--force", "invalidates every certificate and kubeconfig") {
		t.Fatalf("Init with a foreign ca.key = %v, want a *MismatchError whose fix restores the key first and explains --force", err)
	}

	o.Force = true
	res := mustInit(t, o)
	if res.BackupDir == "" {
		t.Fatal("Init --force replaced files without a backup folder")
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return containsAll(w, "replaced the CA ca", "no longer verify") }) ||
		!slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, res.BackupDir) }) {
		t.Errorf("warnings %q, want the replaced CA and the backup folder named", res.Warnings)
	}
	replaced := 0
	for _, f := range res.Files {
		if f.Status != StatusReplaced {
			continue
		}
		replaced++
		rel, err := filepath.Rel(o.KubeconfigDir, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		copyPath := filepath.Join(res.BackupDir, mustPlan(t, o).backupRel(f.Path))
		data, err := os.ReadFile(copyPath)
		if err != nil {
			t.Errorf("no backup of %s: %v", f.Path, err)
			continue
		}
		if string(data) != before[rel].Content {
			t.Errorf("backup %s differs from the replaced %s", copyPath, f.Path)
		}
		fi, err := os.Stat(copyPath)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if f.Kind == KindCA || f.Kind == KindCert {
			want = 0o644
		}
		if fi.Mode().Perm() != want {
			t.Errorf("backup %s mode %04o, want %04o", copyPath, fi.Mode().Perm(), want)
		}
	}
	// ca.crt and ca.key, the two leaves the CA signs and the five
	// kubeconfigs.
	if replaced != 11 {
		t.Errorf("%d files replaced, want 11", replaced)
	}
	err = filepath.WalkDir(filepath.Join(o.KubeconfigDir, "tmp"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, _ := d.Info(); d.IsDir() && fi.Mode().Perm() != 0o700 {
			t.Errorf("backup folder %s mode %04o, want 0700", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing replaced, no backup.
	res = mustInit(t, o)
	if res.BackupDir != "" {
		t.Errorf("Init with nothing to replace made backup folder %s", res.BackupDir)
	}
}

// mustPlan resolves o.
func mustPlan(t *testing.T, o Options) *Plan {
	t.Helper()
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
