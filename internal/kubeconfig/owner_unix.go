//go:build unix

package kubeconfig

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// owner is the owner and group a rewritten file keeps.
type owner struct {
	keep     bool
	uid, gid int
}

// fileOwner returns the owner to keep for the existing file fi: its own
// when this process runs as root (a new file would be root's, and the
// user whose kubeconfig it is could no longer read it), none otherwise. A
// user other than root cannot give a file away, so replacing another
// user's file (which kubectl, rewriting it in place, leaves theirs) is
// refused.
func fileOwner(fi fs.FileInfo) (owner, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, nil
	}
	euid := os.Geteuid()
	if euid == 0 {
		return owner{keep: true, uid: int(st.Uid), gid: int(st.Gid)}, nil
	}
	if int(st.Uid) != euid {
		return owner{}, fmt.Errorf("it belongs to user %d: replacing it would make it yours; run the command as that user or as root", st.Uid)
	}
	return owner{}, nil
}

// apply gives the file at path o's owner and group and syncs it.
func (o owner) apply(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chown(o.uid, o.gid); err != nil {
		return err
	}
	return f.Sync()
}
