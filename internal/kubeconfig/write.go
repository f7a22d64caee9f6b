package kubeconfig

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFile writes data to path atomically: a 0600 temporary file in the
// same directory, fsync, rename, fsync of the directory. It refuses to
// replace a symlink or a non-regular file.
//
// TODO(#5): switch to pki.WriteFile once it lands.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (mode %s); remove it or choose another path", path, st.Mode())
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
