package kubeconfig

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"etc", "home/.kube", "real/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "etc/admin.conf"), nil, 0o600))
	must(os.Symlink("../../etc/admin.conf", filepath.Join(dir, "home/.kube/config")))
	must(os.Symlink("config", filepath.Join(dir, "home/.kube/chain")))
	must(os.Symlink(filepath.Join(dir, "etc/new.conf"), filepath.Join(dir, "home/.kube/dangling")))
	must(os.Symlink("loop", filepath.Join(dir, "home/.kube/loop")))
	// "sublink/../x" is real/x for the kernel, not dir/x as a lexical
	// join would make it.
	must(os.Symlink("real/sub", filepath.Join(dir, "sublink")))
	must(os.Symlink("../x.conf", filepath.Join(dir, "real/sub/up")))

	for _, tc := range []struct {
		name, path, want string
		wantErr          bool
	}{
		{name: "regular file", path: "etc/admin.conf", want: "etc/admin.conf"},
		{name: "missing file", path: "etc/none.conf", want: "etc/none.conf"},
		{name: "relative link", path: "home/.kube/config", want: "etc/admin.conf"},
		{name: "chain", path: "home/.kube/chain", want: "etc/admin.conf"},
		{name: "dangling", path: "home/.kube/dangling", want: "etc/new.conf"},
		{name: "through a symlinked folder", path: "sublink/up", want: "real/x.conf"},
		{name: "loop", path: "home/.kube/loop", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveLinks(filepath.Join(dir, tc.path))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("resolveLinks(%q) = %q, want an error", tc.path, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveLinks(%q): %v", tc.path, err)
			}
			realDir, err := filepath.EvalSymlinks(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rel, _ := filepath.Rel(realDir, got); rel != tc.want {
				if rel, _ = filepath.Rel(dir, got); rel != tc.want {
					t.Errorf("resolveLinks(%q) = %q, want %q", tc.path, got, tc.want)
				}
			}
		})
	}
}

// TestWriteFileFailureLeavesNoTemp makes the last step of writeFile fail
// (a folder is in the way) with and without an owner to keep, and
// requires that nothing is left behind and the folder is untouched.
func TestWriteFileFailureLeavesNoTemp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    owner
	}{
		{name: "plain"},
		{name: "keep owner", o: owner{keep: true, uid: os.Getuid(), gid: os.Getgid()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target := filepath.Join(dir, "config")
			if err := os.MkdirAll(filepath.Join(target, "inside"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(target, []byte("apiVersion: v1\n"), tc.o); err == nil {
				t.Fatalf("writeFile over a folder succeeded, want an error")
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			slices.Sort(names)
			if d := cmp.Diff([]string{"config"}, names); d != "" {
				t.Errorf("files after a failed write (-want +got):\n%s", d)
			}
			if fi, err := os.Stat(filepath.Join(target, "inside")); err != nil || !fi.IsDir() {
				t.Errorf("the folder in the way was changed: %v", err)
			}
		})
	}
}

// TestWriteFileKeepsOwner writes with an owner to keep and checks the
// result is 0600 and complete; the owner is the caller's own here, which
// any user may set (TestConfigWriteKeepsOwner in internal/cli gives the
// file to another user when run as root).
func TestWriteFileKeepsOwner(t *testing.T) {
	t.Parallel()
	target := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: v1\n"
	if err := writeFile(target, []byte(want), owner{keep: true, uid: os.Getuid(), gid: os.Getgid()}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want || fi.Mode() != 0o600 {
		t.Errorf("%s = %q %v, want %q -rw-------", target, got, fi.Mode(), want)
	}
	if names, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*")); len(names) != 0 {
		t.Errorf("temporary files left: %q", names)
	}
}
