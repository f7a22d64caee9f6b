package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

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

// preflight checks that nothing but regular files and folders is in the
// way of the staged paths, before anything is written, and records what
// each path holds now so that a failed commit can put it back.
func (s *stage) preflight(records []undoRecord) error {
	dirOK := map[string]bool{}
	for i, f := range s.files {
		if fi, err := os.Lstat(f.path); err == nil {
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%s is in the way: it is a %s, not a regular file; move it away and retry", f.path, describeMode(fi.Mode()))
			}
			old, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("read %s before replacing it: %w", f.path, err)
			}
			records[i] = undoRecord{existed: true, old: old, oldMode: fi.Mode().Perm()}
		}
		for dir := filepath.Dir(f.path); !dirOK[dir]; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil {
				if !fi.IsDir() {
					return fmt.Errorf("%s is in the way: it is a file where a folder is needed for %s; move it away and retry", dir, f.path)
				}
				dirOK[dir] = true
				break
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	return nil
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
//  1. create missing folders (dirMode, umask-independent);
//  2. write every file to a 0600 temporary file in its folder, on all
//     cores, set its mode;
//  3. sync the file systems once (syncfs on Linux, per-file fsync
//     elsewhere), so every temporary file is durable;
//  4. rename each temporary file over its target;
//  5. fsync each folder once.
//
// If anything fails, every renamed file is put back (or removed), every
// temporary file and every folder created is removed, and the first error
// is returned: the folders are left as they were.
func (s *stage) commit(ctx context.Context) (err error) {
	if len(s.files) == 0 {
		return nil
	}
	crashed := false
	defer func() {
		if err != nil && s.journal != "" && !crashed {
			os.Remove(s.journal)
		}
	}()
	records := make([]undoRecord, len(s.files))
	defer func() {
		for i := range records {
			clear(records[i].old)
		}
	}()
	if err := s.preflight(records); err != nil {
		return err
	}
	var createdDirs []string
	defer func() {
		if err != nil && !crashed {
			slices.Reverse(createdDirs)
			for _, d := range createdDirs {
				os.Remove(d)
			}
		}
	}()
	made := map[string]bool{}
	for _, f := range s.files {
		if dir := filepath.Dir(f.path); !made[dir] {
			dirs, derr := mkdirs(dir, f.dirMode)
			createdDirs = append(createdDirs, dirs...)
			if derr != nil {
				return derr
			}
			made[dir] = true
		}
	}

	temps := make([]string, len(s.files))
	defer func() {
		if crashed {
			return
		}
		for _, tmp := range temps {
			if tmp != "" {
				os.Remove(tmp)
			}
		}
		if err != nil {
			for i, r := range records {
				switch {
				case !r.renamed:
				case r.existed:
					pki.WriteFile(s.files[i].path, r.old, r.oldMode)
				default:
					os.Remove(s.files[i].path)
				}
			}
		}
	}()

	if err := parallel(ctx, len(s.files), func(i int) error {
		tmp, err := writeTemp(s.files[i])
		temps[i] = tmp
		return err
	}); err != nil {
		return err
	}
	if err := syncFiles(temps); err != nil {
		return err
	}
	if s.journal != "" {
		if err := writeJournal(s.journal, s.files, temps); err != nil {
			return err
		}
	}
	dirs := map[string]bool{}
	for i, f := range s.files {
		if s.beforeRename != nil {
			if err := s.beforeRename(f.path); err != nil {
				crashed = errors.Is(err, errSimulatedCrash)
				return err
			}
		}
		// rename(2) replaces a symlink planted since preflight instead
		// of following it, and fails on a folder.
		if err := os.Rename(temps[i], f.path); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		temps[i] = ""
		records[i].renamed = true
		dirs[filepath.Dir(f.path)] = true
	}
	// New folders' own entries must be durable too.
	for _, d := range createdDirs {
		dirs[filepath.Dir(d)] = true
	}
	dirList := slices.Sorted(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	})
	if err := parallel(ctx, len(dirList), func(i int) error { return syncDir(dirList[i]) }); err != nil {
		return err
	}
	if s.journal != "" {
		if err := os.Remove(s.journal); err != nil {
			return fmt.Errorf("remove commit record %s: %w", s.journal, err)
		}
		return syncDir(filepath.Dir(s.journal))
	}
	return nil
}

// writeTemp writes f to a new 0600 temporary file next to its target,
// sets f's mode and closes it, without syncing. It returns the temporary
// file's path, also on error if the file was created.
func writeTemp(f stagedFile) (string, error) {
	dir, base := filepath.Split(f.path)
	tf, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	// CreateTemp made it 0600 less the umask; set the exact mode before
	// any byte is written.
	if err := tf.Chmod(f.mode); err != nil {
		tf.Close()
		return tf.Name(), fmt.Errorf("write %s: %w", f.path, err)
	}
	if _, err := tf.Write(f.data); err != nil {
		tf.Close()
		return tf.Name(), fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := tf.Close(); err != nil {
		return tf.Name(), fmt.Errorf("write %s: %w", f.path, err)
	}
	return tf.Name(), nil
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

// ioWorkers is how many files are written at once: file system calls
// block, so more of them than cores keep the cores and the disk busy.
const ioWorkers = 16

// parallel runs fn(0..n-1) on ioWorkers goroutines and returns the errors
// joined.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(ioWorkers, n) {
		wg.Go(func() {
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// mkdirs creates dir and its missing parents with mode, whatever the
// umask, and returns the folders it created, outermost first.
func mkdirs(dir string, mode fs.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s is in the way: it is a file where a folder is needed; move it away and retry", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("create folder %s: %w", d, err)
		}
		missing = append(missing, d)
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	slices.Reverse(missing)
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
