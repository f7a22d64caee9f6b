package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// syncFiles makes the given files durable with one syncfs(2) per file
// system instead of one fsync per file: on a busy disk that is the
// difference between one flush and hundreds.
func syncFiles(paths []string) error {
	seen := map[uint64]bool{}
	dirs := map[string]bool{}
	for _, p := range paths {
		// A folder's files are on its file system: one stat per folder.
		dir := filepath.Dir(p)
		if dirs[dir] {
			continue
		}
		dirs[dir] = true
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		if seen[st.Dev] {
			continue
		}
		seen[st.Dev] = true
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("sync file system of %s: %w", p, err)
		}
	}
	return nil
}

// syncTreeDirs makes the folders of new trees durable: on Linux the
// syncfs of syncFiles already did.
func syncTreeDirs([]string) error { return nil }

// createTemp creates a new temporary file for target in its folder (see
// createFile) and returns its path, also on error if the file was
// created.
func createTemp(target string, data []byte, mode uint32) (string, error) {
	dir, base := filepath.Split(target)
	for range 100 {
		tmp := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		err := createFile(tmp, data, mode)
		if pe, ok := errors.AsType[*os.PathError](err); ok && pe.Op == "create" {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", err // nothing was created
		}
		return tmp, err
	}
	return "", fmt.Errorf("create a temporary file next to %s: too many name collisions", target)
}

// createFile creates path, which must not exist (O_EXCL), sets mode
// (whatever the umask) before any byte is written, writes data and closes
// it, without syncing. It uses the system calls directly: os.File's setup
// for the runtime poller costs more system calls than the write itself
// for a small file.
func createFile(path string, data []byte, mode uint32) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	fail := func(op string, err error) error {
		unix.Close(fd)
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fail("chmod", err)
	}
	for rest := data; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail("write", err)
		}
		rest = rest[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}
