package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// writeBigKubeconfig writes a kubeconfig of a few KiB, as admin.conf is,
// with mode perm, and returns its content.
func writeBigKubeconfig(t *testing.T, path string, perm fs.FileMode) []byte {
	t.Helper()
	cfg := kubeconfig.NewCertConfig("kubernetes", "https://10.0.0.10:6443",
		bytes.Repeat([]byte("C"), 800), "kubernetes-admin",
		bytes.Repeat([]byte("D"), 800), bytes.Repeat([]byte("K"), 300))
	data, err := kubeconfig.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return data
}

// dirNames returns the sorted names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestConfigWriteFailureKeepsFile runs "config set-context" as a child
// process under a 1 KiB file size limit (ulimit -f 1), so that writing
// the 2 KiB kubeconfig fails part-way: the file must stay byte-identical
// and complete, with no temporary or lock file left, whether it is named
// directly or through a symlink. clientcmd.ModifyConfig truncated it to
// 1024 bytes that still loaded, without the user.
func TestConfigWriteFailureKeepsFile(t *testing.T) {
	t.Parallel()
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skipf("SKIPPED: no %s to set the file size limit: %v", sh, err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		link bool
	}{
		{name: "file"},
		{name: "symlink", link: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "admin.conf")
			want := writeBigKubeconfig(t, file, 0o600)
			arg := file
			if tc.link {
				arg = filepath.Join(dir, "config")
				if err := os.Symlink("admin.conf", arg); err != nil {
					t.Fatal(err)
				}
			}
			before := dirNames(t, dir)
			cmd := exec.CommandContext(t.Context(), sh, "-c", `ulimit -f 1 && exec "$0" "$@"`,
				self, "config", "--kubeconfig", arg, "set-context", "--current", "--namespace=dev")
			cmd.Env = append(os.Environ(), childEnv+"=1", "KUBECONFIG=", "HOME="+dir)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("config set-context under ulimit -f 1: %v, want exit status 1 (stdout %q, stderr %q)", err, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), "the file is unchanged") {
				t.Errorf("stderr = %q, want it to say the file is unchanged", stderr.String())
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("after a failed write %s holds %d bytes, want the original %d bytes unchanged", file, len(got), len(want))
			}
			if d := cmp.Diff(before, dirNames(t, dir)); d != "" {
				t.Errorf("files in the folder (-before +after):\n%s", d)
			}
		})
	}
}

// TestConfigWriteMode checks that a kubeconfig ends 0600 after a config
// command, also one that was 0644 (with a note on stderr): set-credentials
// --embed-certs puts a private key into it.
func TestConfigWriteMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		perm     fs.FileMode
		wantNote bool
	}{
		{name: "0644", perm: 0o644, wantNote: true},
		{name: "0640", perm: 0o640, wantNote: true},
		{name: "0600", perm: 0o600},
		{name: "0400", perm: 0o400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "admin.conf")
			writeBigKubeconfig(t, file, tc.perm)
			cert, key := filepath.Join(dir, "jane.crt"), filepath.Join(dir, "jane.key")
			for _, f := range []string{cert, key} {
				if err := os.WriteFile(f, []byte("PEM of "+filepath.Base(f)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := execPKI(t, "config", "--kubeconfig", file, "set-credentials", "jane",
				"--client-certificate", cert, "--client-key", key, "--embed-certs")
			if code != 0 || stdout != "User \"jane\" set.\n" {
				t.Fatalf("set-credentials = %d, stdout %q, stderr %q; want 0, User \"jane\" set.", code, stdout, stderr)
			}
			wantErr := ""
			if tc.wantNote {
				wantErr = fmt.Sprintf("note: %s had mode %04o, open to group or others; it is now 0600\n", file, tc.perm)
			}
			if stderr != wantErr {
				t.Errorf("stderr = %q, want %q", stderr, wantErr)
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != pki.ModeKubeconfig {
				t.Errorf("mode of %s = %v, want %v", file, fi.Mode(), pki.ModeKubeconfig)
			}
			cfg, err := kubeconfig.Read(file)
			if err != nil {
				t.Fatal(err)
			}
			if u := cfg.AuthInfos["jane"]; u == nil || string(u.ClientKeyData) != "PEM of jane.key\n" {
				t.Errorf("user jane = %+v, want the key embedded", u)
			}
			if _, ok := cfg.AuthInfos["kubernetes-admin"]; !ok {
				t.Errorf("user kubernetes-admin lost")
			}
		})
	}
}

// TestConfigWriteSymlink checks that a kubeconfig named through a symlink
// is written through to its target, kubectl's behaviour, atomically: the
// link stays, the target ends 0600, and nothing else appears in either
// folder. A dangling link gets its target created.
func TestConfigWriteSymlink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		dangling bool
	}{
		{name: "existing target"},
		{name: "dangling", dangling: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			realDir, linkDir := filepath.Join(dir, "etc"), filepath.Join(dir, "home", ".kube")
			for _, d := range []string{realDir, linkDir} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			target := filepath.Join(realDir, "admin.conf")
			link := filepath.Join(linkDir, "config")
			const linkText = "../../etc/admin.conf"
			if err := os.Symlink(linkText, link); err != nil {
				t.Fatal(err)
			}
			args := []string{"config", "--kubeconfig", link, "set-context", "--current", "--namespace=dev"}
			wantOut := "Context \"kubernetes-admin@kubernetes\" modified.\n"
			if tc.dangling {
				args = []string{"config", "--kubeconfig", link, "set-cluster", "e2e", "--server=https://e2e:6443"}
				wantOut = "Cluster \"e2e\" set.\n"
			} else {
				writeBigKubeconfig(t, target, 0o644)
			}
			stdout, stderr, code := execPKI(t, args...)
			if code != 0 || stdout != wantOut {
				t.Fatalf("%v = %d, stdout %q, stderr %q; want 0, %q", args, code, stdout, stderr, wantOut)
			}
			if got, err := os.Readlink(link); err != nil || got != linkText {
				t.Errorf("Readlink(%s) = %q, %v; want %q, the link unchanged", link, got, err, linkText)
			}
			fi, err := os.Lstat(target)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != pki.ModeKubeconfig {
				t.Errorf("mode of %s = %v, want %v", target, fi.Mode(), pki.ModeKubeconfig)
			}
			cfg, err := kubeconfig.Read(target)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dangling {
				if c := cfg.Clusters["e2e"]; c == nil || c.Server != "https://e2e:6443" {
					t.Errorf("cluster e2e = %+v, want server https://e2e:6443", c)
				}
			} else if c := cfg.Contexts["kubernetes-admin@kubernetes"]; c == nil || c.Namespace != "dev" || len(cfg.AuthInfos) != 1 {
				t.Errorf("context = %+v with %d users, want namespace dev and the user kept", c, len(cfg.AuthInfos))
			}
			if d := cmp.Diff([]string{"admin.conf"}, dirNames(t, realDir)); d != "" {
				t.Errorf("files in %s (-want +got):\n%s", realDir, d)
			}
			if d := cmp.Diff([]string{"config"}, dirNames(t, linkDir)); d != "" {
				t.Errorf("files in %s (-want +got):\n%s", linkDir, d)
			}
		})
	}
}

// TestConfigWriteKeepsOwner checks that, run as root, a config command
// leaves another user's kubeconfig owned by that user and group.
func TestConfigWriteKeepsOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root to give a file to another user")
	}
	const uid, gid = 65534, 65533
	dir := t.TempDir()
	file := filepath.Join(dir, "config")
	writeBigKubeconfig(t, file, 0o644)
	if err := os.Chown(file, uid, gid); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := execPKI(t, "config", "--kubeconfig", file, "set-context", "--current", "--namespace=dev")
	if code != 0 {
		t.Fatalf("set-context = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode() != pki.ModeKubeconfig {
		t.Errorf("%s is %d:%d %v, want %d:%d %v", file, st.Uid, st.Gid, fi.Mode(), uid, gid, pki.ModeKubeconfig)
	}
	if d := cmp.Diff([]string{"config"}, dirNames(t, dir)); d != "" {
		t.Errorf("files in the folder (-want +got):\n%s", d)
	}
}

// TestConfigWriteKubeconfigList checks, without kubectl, that with two
// files in $KUBECONFIG a change to an entry goes to the file it came from
// and a new entry to the first file, the other file left as it was (the
// same inode, not rewritten).
func TestConfigWriteKubeconfigList(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		changed    string
		contains   string
		notChanged string
		wantStdout string
	}{
		{
			name:       "existing entry in the second file",
			args:       []string{"config", "set-cluster", "beta", "--server=https://10.0.0.3:6443"},
			changed:    "beta.conf",
			contains:   "server: https://10.0.0.3:6443",
			notChanged: "alpha.conf",
			wantStdout: "Cluster \"beta\" set.\n",
		},
		{
			name:       "new entry",
			args:       []string{"config", "set-context", "jane@beta", "--cluster=beta", "--user=jane"},
			changed:    "alpha.conf",
			contains:   "name: jane@beta",
			notChanged: "beta.conf",
			wantStdout: "Context \"jane@beta\" created.\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeConfigFixture(t)
			kept := filepath.Join(dir, tc.notChanged)
			keptBefore, err := os.ReadFile(kept)
			if err != nil {
				t.Fatal(err)
			}
			keptInfo, err := os.Stat(kept)
			if err != nil {
				t.Fatal(err)
			}
			env := filepath.Join(dir, "alpha.conf") + string(filepath.ListSeparator) + filepath.Join(dir, "beta.conf")
			r := runKubepki(t, dir, env, tc.args...)
			if r.failed || r.stdout != tc.wantStdout {
				t.Fatalf("%v: failed %v, stdout %q, stderr %q; want %q", tc.args, r.failed, r.stdout, r.stderr, tc.wantStdout)
			}
			got, err := os.ReadFile(filepath.Join(dir, tc.changed))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(got), tc.contains) {
				t.Errorf("%s = %s\nwant it to contain %q", tc.changed, got, tc.contains)
			}
			keptAfter, err := os.ReadFile(kept)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(kept)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(keptBefore, keptAfter) || !os.SameFile(keptInfo, fi) {
				t.Errorf("%s was rewritten, want it untouched", tc.notChanged)
			}
		})
	}
}

// TestConfigSymlinkMatchesKubectl compares the files kubepki and kubectl
// write when the kubeconfig is a symlink into another folder: paths are
// made relative to the symlink's folder, as kubectl does, and a file
// listed twice in $KUBECONFIG (the link and its target) ends as kubectl
// leaves it.
func TestConfigSymlinkMatchesKubectl(t *testing.T) {
	kubectl := pkitest.RequireTool(t, "kubectl")
	const (
		link   = "{dir}/home/.kube/config"
		target = "{dir}/etc/admin.conf"
	)
	for _, tc := range []struct {
		name string
		env  string
		args []string
	}{
		{name: "set-credentials relative to the link", env: link,
			args: []string{"config", "set-credentials", "jane", "--client-certificate={dir}/home/.kube/pki/jane.crt", "--client-key={dir}/etc/jane.key"}},
		{name: "rename-context through the link", env: link,
			args: []string{"config", "rename-context", "kubernetes-admin@kubernetes", "admin"}},
		{name: "link and target both listed", env: link + ":" + target,
			args: []string{"config", "rename-context", "kubernetes-admin@kubernetes", "admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setup := func() string {
				dir := t.TempDir()
				for _, d := range []string{"etc", "home/.kube/pki"} {
					if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				writeBigKubeconfig(t, filepath.Join(dir, "etc/admin.conf"), 0o600)
				if err := os.Symlink("../../etc/admin.conf", filepath.Join(dir, "home/.kube/config")); err != nil {
					t.Fatal(err)
				}
				return dir
			}
			ourDir, theirDir := setup(), setup()
			sub := func(dir string, args []string) []string {
				out := make([]string, len(args))
				for i, a := range args {
					out[i] = strings.ReplaceAll(a, "{dir}", dir)
				}
				return out
			}
			env := func(dir string) string { return strings.ReplaceAll(tc.env, "{dir}", dir) }
			ours := runKubepki(t, ourDir, env(ourDir), sub(ourDir, tc.args)...)
			theirs := runKubectl(t, kubectl, theirDir, env(theirDir), sub(theirDir, tc.args)...)
			if ours.failed || theirs.failed {
				t.Fatalf("kubepki failed = %v (stderr %q), kubectl failed = %v (stderr %q)", ours.failed, ours.stderr, theirs.failed, theirs.stderr)
			}
			if ours.stdout != theirs.stdout {
				t.Errorf("stdout = %q, kubectl's %q", ours.stdout, theirs.stdout)
			}
			if d := cmp.Diff(snapshot(t, theirDir), snapshot(t, ourDir)); d != "" {
				t.Errorf("files differ (-kubectl +kubepki):\n%s", d)
			}
			if fi, err := os.Lstat(filepath.Join(ourDir, "home/.kube/config")); err != nil || fi.Mode().Type() != fs.ModeSymlink {
				t.Errorf("home/.kube/config is no longer a symlink: %v", err)
			}
		})
	}
}
