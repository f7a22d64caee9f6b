package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
// none: commit restores every replaced file and removes every created file
// and folder when a write fails.
type stage struct {
	files []stagedFile
	// writeFile writes one file; nil means pki.WriteFile. Tests set it to
	// make a write fail part-way.
	writeFile func(path string, data []byte, perm fs.FileMode) error
}

func (s *stage) add(path string, data []byte, mode, dirMode fs.FileMode) {
	s.files = append(s.files, stagedFile{path: path, data: data, mode: mode, dirMode: dirMode})
}

// undoRecord remembers what a path held before the commit.
type undoRecord struct {
	path    string
	existed bool
	old     []byte
	oldMode fs.FileMode
	written bool
}

// preflight checks that nothing but regular files and folders is in the
// way of the staged paths, before anything is written.
func (s *stage) preflight() error {
	for _, f := range s.files {
		if fi, err := os.Lstat(f.path); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is in the way: it is a %s, not a regular file; move it away and retry", f.path, describeMode(fi.Mode()))
		}
		for dir := filepath.Dir(f.path); ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if err == nil {
				if !fi.IsDir() {
					return fmt.Errorf("%s is in the way: it is a file where a folder is needed for %s; move it away and retry", dir, f.path)
				}
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

// commit writes the staged files with pki.WriteFile, several at a time.
// It first creates the missing folders, then writes the files; if anything
// fails, it puts back every file it replaced, removes every file and folder
// it created, and returns the first error.
func (s *stage) commit(ctx context.Context) (err error) {
	if err := s.preflight(); err != nil {
		return err
	}
	var createdDirs []string
	defer func() {
		if err != nil {
			slices.Reverse(createdDirs)
			for _, d := range createdDirs {
				os.Remove(d)
			}
		}
	}()
	for _, f := range s.files {
		dirs, derr := mkdirs(filepath.Dir(f.path), f.dirMode)
		createdDirs = append(createdDirs, dirs...)
		if derr != nil {
			return derr
		}
	}

	records := make([]undoRecord, len(s.files))
	for i, f := range s.files {
		records[i].path = f.path
		if fi, lerr := os.Lstat(f.path); lerr == nil {
			old, rerr := os.ReadFile(f.path)
			if rerr != nil {
				return fmt.Errorf("read %s before replacing it: %w", f.path, rerr)
			}
			records[i].existed, records[i].old, records[i].oldMode = true, old, fi.Mode().Perm()
		}
	}
	defer func() {
		if err != nil {
			for _, r := range records {
				if !r.written {
					continue
				}
				if r.existed {
					pki.WriteFile(r.path, r.old, r.oldMode)
				} else {
					os.Remove(r.path)
				}
			}
		}
		for i := range records {
			clear(records[i].old)
		}
	}()

	write := s.writeFile
	if write == nil {
		write = pki.WriteFile
	}
	workers := min(runtime.GOMAXPROCS(0)*2, len(s.files))
	next := make(chan int)
	errs := make([]error, len(s.files))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				f := s.files[i]
				if cerr := ctx.Err(); cerr != nil {
					errs[i] = cerr
					continue
				}
				if werr := write(f.path, f.data, f.mode); werr != nil {
					errs[i] = werr
					continue
				}
				records[i].written = true
			}
		})
	}
	for i := range s.files {
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
