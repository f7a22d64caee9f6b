package cluster

import (
	"context"
	"io/fs"
	"path/filepath"

	"github.com/kubepki/kubepki/internal/pki"
)

// File is one file of a [WriteFiles] commit.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// WriteFilesOptions are the options of [WriteFiles]. The zero value
// refuses to replace existing files.
type WriteFilesOptions struct {
	// Replace lets existing regular files be replaced.
	Replace bool
	// DirMode is the mode of folders created for the files (default
	// [pki.ModeKeyDir], 0700).
	DirMode fs.FileMode
	// BeforeRename, if set, is called with each target path before the
	// file is renamed into place; an error fails the commit there (which
	// is then rolled back). Tests use it to fail part-way.
	BeforeRename func(path string) error
}

// WriteFiles writes files as one commit, the way init and certs renew
// write a certificate with its key: every file is written to a temporary
// file with its exact mode and made durable, a commit record
// (.kubepki-commit.json) is written in the folder of the first file, and
// only then are the files renamed into place. If the process dies during
// the renames, the next WriteFiles (or init, issue or renew with that
// certificate folder) completes them from the record, so a new key never
// stays next to an old certificate. If a step fails, the files are put
// back as they were and the error is returned, together with any failure
// to put a file back. Without o.Replace an existing file fails the commit
// with pki.ErrExists before anything is written. Symlinks and non-regular
// files are never replaced.
func WriteFiles(ctx context.Context, files []File, o WriteFilesOptions) error {
	if len(files) == 0 {
		return nil
	}
	journal := filepath.Join(filepath.Dir(files[0].Path), journalName)
	if _, err := recoverCommit(journal); err != nil {
		return err
	}
	dirMode := o.DirMode
	if dirMode == 0 {
		dirMode = pki.ModeKeyDir
	}
	st := stage{journal: journal, exclusive: !o.Replace, beforeRename: o.BeforeRename}
	for _, f := range files {
		st.add(f.Path, f.Data, f.Mode, dirMode)
	}
	return st.commit(ctx)
}
