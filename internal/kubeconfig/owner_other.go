//go:build !unix

package kubeconfig

import (
	"errors"
	"io/fs"
)

// owner is the owner and group a rewritten file keeps; on this system
// files get no POSIX owner.
type owner struct {
	keep     bool
	uid, gid int
}

// fileOwner returns no owner to keep.
func fileOwner(fs.FileInfo) (owner, error) { return owner{}, nil }

func (o owner) apply(string) error { return errors.ErrUnsupported }
