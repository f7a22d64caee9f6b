package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/kubepki/kubepki/internal/pki"
)

// stagedFile is one file a run will write.
type stagedFile struct {
	path    string
	data    []byte
	mode    fs.FileMode
	dirMode fs.FileMode // mode of folders created for it
}

// stage collects the files of a multi-file change and writes them all or
// none.
type stage struct {
	files []stagedFile
	// beforeRename, if set, is called before each file is renamed into
	// place; an error makes the commit fail there. Tests use it to fail
	// part-way.
	beforeRename func(path string) error
	// exclusive makes the commit refuse, with pki.ErrExists, to replace
	// a file that exists.
	exclusive bool
	// journal, if set, is the commit record (see [recoverCommit]) written
	// once every temporary file is durable and removed when the commit is
	// over, so that a crash during the renames is completed by the next
	// run instead of leaving half of the set.
	journal string
}

// errSimulatedCrash, returned by a beforeRename hook, makes commit stop at
// once and skip all cleanup, as if the process had been killed there.
var errSimulatedCrash = errors.New("simulated crash")

func (s *stage) add(path string, data []byte, mode, dirMode fs.FileMode) {
	s.files = append(s.files, stagedFile{path: path, data: data, mode: mode, dirMode: dirMode})
}

// undoRecord remembers what a path held before the commit.
type undoRecord struct {
	existed bool
	old     []byte
	oldMode fs.FileMode
	renamed bool
}

// newTree is a folder that does not exist yet, with every staged file
// below it: its files are written under their final names inside a
// temporary folder next to it, which is renamed into place as a whole.
// A file in a new folder then costs no rename of its own, and the tree's
// contents need no folder fsync (the syncfs covers them).
type newTree struct {
	root    string // the folder to create
	temp    string // its temporary name
	renamed bool
}

// placed is one staged file during a commit.
type placed struct {
	f      stagedFile
	tree   int    // index in writer.trees, or -1 for a file in an existing folder
	inTree string // for a tree file, its path inside the temporary tree
	temp   string // for another file, its temporary file
	undo   undoRecord
}

// writer is one commit in progress. Files are added with put, from any
// number of goroutines, as soon as they are made, so that writing them
// overlaps making the others; finish then makes them durable and renames
// them into place, or removes every trace of them.
type writer struct {
	s *stage

	mu          sync.Mutex
	files       []*placed
	dirExists   map[string]bool // folders looked at: exists or not
	treeOf      map[string]int  // new tree roots
	trees       []*newTree
	made        map[string]bool // folders made inside temporary trees
	createdDirs []string        // folders made outside trees (the record's)
	crashed     bool
	umask       fs.FileMode // the process's, when umaskKnown
	umaskKnown  bool
}

// chmod reports whether a file or folder created with mode must have its
// mode set afterwards: when the umask is unknown or would clear some of
// mode's bits.
func (w *writer) chmod(mode fs.FileMode) bool {
	return !w.umaskKnown || mode&^w.umask != mode
}

// begin starts a commit: it creates the commit record's folder, which
// must exist before trees are laid out (it cannot be renamed into place
// with the record in it).
func (s *stage) begin() (*writer, error) {
	w := &writer{s: s, dirExists: map[string]bool{}, treeOf: map[string]int{}, made: map[string]bool{}}
	w.umask, w.umaskKnown = processUmask()
	if s.journal != "" {
		dirs, err := mkdirs(filepath.Dir(s.journal), pki.ModeKeyDir)
		w.createdDirs = dirs
		if err != nil {
			return nil, withRollback(err, w.rollback())
		}
	}
	return w, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "folder"
	default:
		return "special file"
	}
}

// commit writes the staged files with the guarantees of pki.WriteFile
// (each file is replaced atomically by a complete, durable one with its
// exact mode, whatever the umask; symlinks and non-regular files are
// refused) but syncs in groups, since the disk's sync, not the crypto,
// is what costs most:
//
//  1. write every file in an existing folder to a 0600 temporary file
//     next to it, and every file of a missing folder tree under its
//     final name into a temporary copy of the tree; set each mode
//     (files and folders, umask-independent);
//  2. sync the file systems once (syncfs on Linux, per-file fsync
//     elsewhere), so every temporary file and tree is durable;
//  3. write the commit record, if any;
//  4. rename each temporary file over its target and each temporary tree
//     to its name;
//  5. fsync each folder that got a new entry once.
//
// If anything fails, every renamed file is put back (or removed), every
// renamed tree and every temporary file and tree is removed, and the
// first error is returned: the folders are left as they were. If putting
// a file back fails too, the error says so and names the file.
func (s *stage) commit(ctx context.Context) error {
	if len(s.files) == 0 {
		return nil
	}
	w, err := s.begin()
	if err != nil {
		return err
	}
	// Placed in order, so that renames and the record follow the stage.
	ps := make([]*placed, len(s.files))
	w.mu.Lock()
	for i, f := range s.files {
		if ps[i], err = w.place(f); err != nil {
			w.mu.Unlock()
			return w.finish(ctx, err)
		}
	}
	w.mu.Unlock()
	// Writing a small file without fsync is CPU work in the kernel, and
	// on ext4 concurrent creators mostly wait for each other: one writer
	// per core.
	err = parallel(ctx, runtime.GOMAXPROCS(0), len(ps), func(i int) error { return w.write(ps[i]) })
	return w.finish(ctx, err)
}

// put checks and writes files (step 1 of commit). It may be called
// concurrently.
func (w *writer) put(files []stagedFile) error {
	for _, f := range files {
		w.mu.Lock()
		p, err := w.place(f)
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if err := w.write(p); err != nil {
			return err
		}
	}
	return nil
}

// write creates a placed file: under its final name in its temporary
// tree, or as a temporary file next to its target.
func (w *writer) write(p *placed) error {
	var err error
	if p.inTree != "" {
		err = createFile(p.inTree, p.f.data, uint32(p.f.mode.Perm()), w.chmod(p.f.mode.Perm()))
	} else {
		// Only this goroutine touches p until finish, which runs after
		// every write has returned.
		p.temp, err = createTemp(p.f.path, p.f.data, uint32(p.f.mode.Perm()), w.chmod(p.f.mode.Perm()))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p.f.path, err)
	}
	return nil
}

// place checks that nothing but regular files and folders is in the way
// of f, records what its path holds now so that a failed commit can put
// it back, and finds or makes its new folder tree. w.mu must be held.
func (w *writer) place(f stagedFile) (*placed, error) {
	p := &placed{f: f, tree: -1}
	w.files = append(w.files, p)
	dir := filepath.Dir(f.path)
	// Find the outermost missing ancestor, checking each folder once.
	root := ""
	for d := dir; ; d = filepath.Dir(d) {
		ok, known := w.dirExists[d]
		if !known {
			fi, err := os.Stat(d)
			switch {
			case err == nil && !fi.IsDir():
				return nil, fmt.Errorf("%s is in the way: it is a file where a folder is needed for %s; move it away and retry", d, f.path)
			case err == nil:
				ok = true
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("check folder %s for %s: %w", d, f.path, err)
			}
			w.dirExists[d] = ok
		}
		if ok {
			break
		}
		root = d
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	if root == "" {
		if fi, err := os.Lstat(f.path); err == nil {
			if w.s.exclusive {
				return nil, fmt.Errorf("write %s: %w", f.path, pki.ErrExists)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s is in the way: it is a %s, not a regular file; move it away and retry", f.path, describeMode(fi.Mode()))
			}
			old, err := os.ReadFile(f.path)
			if err != nil {
				return nil, fmt.Errorf("read %s before replacing it: %w", f.path, err)
			}
			p.undo = undoRecord{existed: true, old: old, oldMode: fi.Mode().Perm()}
		}
		return p, nil
	}
	t, ok := w.treeOf[root]
	if !ok {
		temp, err := mkdirTemp(root, f.dirMode, w.chmod(f.dirMode))
		if err != nil {
			return nil, err
		}
		t = len(w.trees)
		w.treeOf[root] = t
		w.trees = append(w.trees, &newTree{root: root, temp: temp})
		w.made[temp] = true
	}
	p.tree = t
	tr := w.trees[t]
	rel, err := filepath.Rel(tr.root, f.path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", f.path, err)
	}
	p.inTree = filepath.Join(tr.temp, rel)
	if err := mkdirsIn(tr.temp, filepath.Dir(p.inTree), f.dirMode, w.chmod(f.dirMode), w.made); err != nil {
		return nil, fmt.Errorf("write %s: %w", f.path, err)
	}
	return p, nil
}

// finish completes the commit (steps 2 to 5) when failed is nil, and
// otherwise, or if a step fails, rolls everything back. No put may run
// any more.
func (w *writer) finish(ctx context.Context, failed error) (err error) {
	defer func() {
		for _, p := range w.files {
			clear(p.undo.old)
		}
	}()
	defer func() {
		if err != nil && !w.crashed {
			err = withRollback(err, w.rollback())
		}
	}()
	if failed != nil {
		return failed
	}
	if len(w.files) == 0 {
		return w.rollback() // only the record's folder, if it was made
	}
	written := make([]string, 0, len(w.files))
	for _, p := range w.files {
		if p.inTree != "" {
			written = append(written, p.inTree)
		} else {
			written = append(written, p.temp)
		}
	}
	if err := syncFiles(written); err != nil {
		return err
	}
	if err := syncTreeDirs(w.made); err != nil {
		return err
	}
	s := w.s
	if s.journal != "" {
		if err := writeJournal(s.journal, w.renames()); err != nil {
			return err
		}
	}
	dirs := map[string]bool{}
	rename := func(from, to string) error {
		if s.beforeRename != nil {
			if err := s.beforeRename(to); err != nil {
				w.crashed = errors.Is(err, errSimulatedCrash)
				return err
			}
		}
		// rename(2) replaces a symlink planted since preflight instead
		// of following it, and fails on a folder.
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("write %s: %w", to, err)
		}
		dirs[filepath.Dir(to)] = true
		return nil
	}
	for _, p := range w.files {
		if p.tree >= 0 {
			continue
		}
		if err := rename(p.temp, p.f.path); err != nil {
			return err
		}
		p.temp = ""
		p.undo.renamed = true
	}
	for _, t := range w.trees {
		if err := rename(t.temp, t.root); err != nil {
			return err
		}
		t.renamed = true
	}
	// New folders' own entries must be durable too.
	for _, d := range w.createdDirs {
		dirs[filepath.Dir(d)] = true
	}
	dirList := slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	})
	if err := parallel(ctx, syncWorkers, len(dirList), func(i int) error { return syncDir(dirList[i]) }); err != nil {
		return err
	}
	// The record's removal need not be durable: a record that survives a
	// crash names only temporary files that no longer exist, and the
	// next run's recovery just removes it. That saves a disk flush.
	if s.journal != "" {
		if err := os.Remove(s.journal); err != nil {
			return fmt.Errorf("remove commit record %s: %w", s.journal, err)
		}
	}
	return nil
}

// rollback removes every temporary file and tree, every renamed tree and
// every folder made, and puts back every renamed file. It returns the
// failures to put back or remove what reached a final path (those leave
// the folders changed); leftover temporary files are only clutter.
func (w *writer) rollback() error {
	var errs []error
	for _, p := range w.files {
		if p.temp != "" {
			os.Remove(p.temp)
		}
	}
	for _, t := range w.trees {
		if t.renamed {
			if err := os.RemoveAll(t.root); err != nil {
				errs = append(errs, fmt.Errorf("remove new folder %s: %w", t.root, err))
			}
		} else {
			os.RemoveAll(t.temp)
		}
	}
	for _, p := range w.files {
		switch {
		case !p.undo.renamed:
		case p.undo.existed:
			if err := pki.WriteFile(p.f.path, p.undo.old, p.undo.oldMode); err != nil {
				errs = append(errs, fmt.Errorf("put back the old %s: %w", p.f.path, err))
			}
		default:
			if err := os.Remove(p.f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove new %s: %w", p.f.path, err))
			}
		}
	}
	if w.s.journal != "" {
		os.Remove(w.s.journal)
	}
	slices.Reverse(w.createdDirs)
	for _, d := range w.createdDirs {
		os.Remove(d)
	}
	return errors.Join(errs...)
}

// withRollback adds to err, the error that made a commit roll back, the
// rollback's own failure, if any: then files were left changed.
func withRollback(err, rollbackErr error) error {
	if rollbackErr == nil {
		return err
	}
	return fmt.Errorf("%w; rolling back failed too, so these files may not match the others: %w", err, rollbackErr)
}

// renames lists the renames of a commit, files first, then trees.
func (w *writer) renames() []journalEntry {
	var out []journalEntry
	for _, p := range w.files {
		if p.tree < 0 {
			out = append(out, journalEntry{Temp: p.temp, Path: p.f.path})
		}
	}
	for _, t := range w.trees {
		out = append(out, journalEntry{Temp: t.temp, Path: t.root})
	}
	return out
}

// tempPrefix is how the name of a temporary file or folder for base
// begins; recovery accepts only names with it.
func tempPrefix(base string) string { return "." + base + tempMark }

// tempMark separates a temporary name's target base from its random part.
const tempMark = ".tmp-"

// tempName returns a new random temporary name next to target.
func tempName(target string) string {
	dir, base := filepath.Split(target)
	return filepath.Join(dir, tempPrefix(base)+strconv.FormatUint(rand.Uint64(), 36))
}

// mkdirTemp creates the temporary folder for a new tree rooted at root,
// next to it, with mode whatever the umask.
func mkdirTemp(root string, mode fs.FileMode, chmod bool) (string, error) {
	dir := filepath.Dir(root)
	for range 100 {
		tmp := tempName(root)
		err := os.Mkdir(tmp, mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create folder %s: %w; check that you may write to %s", root, err, dir)
		}
		if !chmod {
			return tmp, nil
		}
		if err := os.Chmod(tmp, mode); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("create folder %s: %w", root, err)
		}
		return tmp, nil
	}
	return "", fmt.Errorf("create folder %s: too many temporary name collisions in %s", root, dir)
}

// mkdirsIn creates dir and its missing parents up to top (which exists),
// with mode whatever the umask; made records the folders that exist.
func mkdirsIn(top, dir string, mode fs.FileMode, chmod bool, made map[string]bool) error {
	if made[dir] || dir == top {
		return nil
	}
	if err := mkdirsIn(top, filepath.Dir(dir), mode, chmod, made); err != nil {
		return err
	}
	if err := os.Mkdir(dir, mode); err != nil {
		return err
	}
	if chmod {
		if err := os.Chmod(dir, mode); err != nil {
			return err
		}
	}
	made[dir] = true
	return nil
}

// syncDir fsyncs a folder so that renames in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// syncWorkers is how many folders are fsynced at once: fsync blocks on
// the disk, so more of them than cores keep the disk busy.
const syncWorkers = 16

// parallel runs fn(0..n-1) on up to workers goroutines and returns the
// errors joined.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// mkdirs creates dir and its missing parents with mode, whatever the
// umask, and returns the folders it created, outermost first.
func mkdirs(dir string, mode fs.FileMode) ([]string, error) {
	missing, blocker, err := missingFolders(dir)
	if err != nil {
		return nil, fmt.Errorf("create folder %s: %w", dir, err)
	}
	if blocker != "" {
		return nil, fmt.Errorf("%s is in the way: it is a file where a folder is needed; move it away and retry", blocker)
	}
	var created []string
	for _, d := range missing {
		if err := os.Mkdir(d, mode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return created, fmt.Errorf("create folder %s: %w; check that you may write to %s", d, err, filepath.Dir(d))
		}
		created = append(created, d)
		if err := os.Chmod(d, mode); err != nil {
			return created, fmt.Errorf("create folder %s: %w", d, err)
		}
	}
	return created, nil
}

// missingFolders walks from dir up to its nearest existing element and
// returns the folders that do not exist, outermost first. When that
// element is not a folder (afile in "afile/pki", which the system reports
// as ENOTDIR on the way up), it is returned as blocker instead.
func missingFolders(dir string) (missing []string, blocker string, err error) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, d, nil
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, "", err
		}
		missing = append(missing, d)
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	slices.Reverse(missing)
	return missing, "", nil
}
