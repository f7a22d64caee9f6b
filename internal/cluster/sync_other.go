//go:build !linux

package cluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// syncFiles fsyncs each file where syncfs(2) does not exist.
func syncFiles(paths []string) error {
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return nil
}

// processUmask reports that the umask is unknown here, so that every
// mode is set explicitly.
func processUmask() (fs.FileMode, bool) { return 0, false }

// syncTreeDirs fsyncs each folder of the new trees, so that their
// entries are as durable as the files in them.
func syncTreeDirs(dirs map[string]bool) error {
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// createTemp creates a new temporary file for target in its folder (see
// createFile) and returns its path, also on error if the file was
// created.
func createTemp(target string, data []byte, mode uint32, _ bool) (string, error) {
	dir, base := filepath.Split(target)
	tf, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return "", err
	}
	return tf.Name(), fill(tf, data, mode)
}

// createFile creates path, which must not exist (O_EXCL), sets mode
// (whatever the umask) before any byte is written, writes data and closes
// it, without syncing.
func createFile(path string, data []byte, mode uint32, _ bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return fill(f, data, mode)
}

func fill(f *os.File, data []byte, mode uint32) error {
	if err := f.Chmod(fs.FileMode(mode)); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
