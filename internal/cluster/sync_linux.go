package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

// processUmask returns the process's umask as /proc/self/status reports
// it, and false where it cannot be read.
func processUmask() (fs.FileMode, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return fs.FileMode(m), err == nil
		}
	}
	return 0, false
}

// syncTreeDirs makes the folders of new trees durable: on Linux the
// syncfs of syncFiles already did.
func syncTreeDirs(map[string]bool) error { return nil }

// createTemp creates a new temporary file for target in its folder (see
// createFile) and returns its path, also on error if the file was
// created.
func createTemp(target string, data []byte, mode uint32, chmod bool) (string, error) {
	for range 100 {
		tmp := tempName(target)
		err := createFile(tmp, data, mode, chmod)
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

// createFile creates path, which must not exist (O_EXCL), with mode
// whatever the umask, before any byte is written, then writes data and
// closes it, without syncing. With chmod it creates the file 0600 and sets
// mode; without, the caller knows that the umask leaves mode as it is, and
// the file is created with it. It uses the system calls directly: os.File's
// setup for the runtime poller costs more system calls than the write
// itself for a small file.
func createFile(path string, data []byte, mode uint32, chmod bool) error {
	perm := mode
	if chmod {
		perm = 0o600
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	fail := func(op string, err error) error {
		unix.Close(fd)
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	if chmod {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fail("chmod", err)
		}
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
