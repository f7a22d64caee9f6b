package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/pki"
)

// treeStage stages, under dir, a file in the existing folder and files in
// two missing folder trees (nodes/, with a folder per node, and extra/a/b).
func treeStage(dir string) (*stage, map[string]fileState) {
	st := &stage{journal: filepath.Join(dir, journalName)}
	want := map[string]fileState{}
	add := func(rel string, data string, mode fs.FileMode) {
		st.add(filepath.Join(dir, rel), []byte(data), mode, pki.ModeKeyDir)
		want[rel] = fileState{Mode: mode, Content: data}
	}
	add("ca.crt", "ca", pki.ModeCert)
	for i := range 3 {
		add(fmt.Sprintf("nodes/w%d/kubelet.crt", i), fmt.Sprintf("crt %d", i), pki.ModeCert)
		add(fmt.Sprintf("nodes/w%d/kubelet.key", i), fmt.Sprintf("key %d", i), pki.ModeKey)
		want[fmt.Sprintf("nodes/w%d", i)] = fileState{Mode: fs.ModeDir | pki.ModeKeyDir}
	}
	add("extra/a/b/x.key", "x", pki.ModeKey)
	for _, d := range []string{"nodes", "extra", "extra/a", "extra/a/b"} {
		want[d] = fileState{Mode: fs.ModeDir | pki.ModeKeyDir}
	}
	want["."] = fileState{Mode: fs.ModeDir | 0o700}
	return st, want
}

// TestCommitNewFolderTrees: files of missing folders are written into a
// temporary tree renamed into place as a whole; the result has every
// file and folder with its mode, and nothing temporary is left.
func TestCommitNewFolderTrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, want := treeStage(dir)
	var renamed []string
	st.beforeRename = func(path string) error {
		rel, _ := filepath.Rel(dir, path)
		renamed = append(renamed, rel)
		return nil
	}
	if err := st.commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, snapshot(t, dir)); diff != "" {
		t.Errorf("folder after commit (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ca.crt", "nodes", "extra"}, renamed); diff != "" {
		t.Errorf("renames (-want +got):\n%s", diff)
	}
}

// TestCrashBeforeTreeRenameIsCompleted: a crash after the file's rename
// but before the trees' leaves a commit record that the next run uses to
// rename the durable temporary trees into place.
func TestCrashBeforeTreeRenameIsCompleted(t *testing.T) {
	t.Parallel()
	for _, after := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("after %d renames", after), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			st, want := treeStage(dir)
			st.beforeRename = crashAfter(after)
			if err := st.commit(t.Context()); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("commit = %v, want the simulated crash", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "extra")); err == nil {
				t.Fatal("extra/ is in place before its rename")
			}
			done, err := recoverCommit(st.journal)
			if err != nil {
				t.Fatal(err)
			}
			if done != 3-after {
				t.Errorf("recovery completed %d renames, want %d", done, 3-after)
			}
			if diff := cmp.Diff(want, snapshot(t, dir)); diff != "" {
				t.Errorf("folder after recovery (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommitRollsBackRenamedTrees: when a rename fails after a tree was
// renamed into place, the tree is removed again with everything else.
func TestCommitRollsBackRenamedTrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	st, _ := treeStage(dir)
	boom := errors.New("disk full")
	st.beforeRename = failRename("extra", boom)
	if err := st.commit(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("commit = %v, want %v", err, boom)
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("failed commit changed the folder (-before +after):\n%s", diff)
	}
}

// TestWriterRollsBackWhenAJobFails: files put while the other jobs run
// (temporary files and trees) are all removed when a job then fails.
func TestWriterRollsBackWhenAJobFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	st, _ := treeStage(dir)
	w, err := st.begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.put(st.files); err != nil {
		t.Fatal(err)
	}
	if got := len(snapshot(t, dir)); got <= len(before) {
		t.Fatalf("put wrote nothing (%d entries)", got)
	}
	boom := errors.New("signing failed")
	if err := w.finish(t.Context(), boom); !errors.Is(err, boom) {
		t.Fatalf("finish = %v, want %v", err, boom)
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("failed run changed the folder (-before +after):\n%s", diff)
	}
}
