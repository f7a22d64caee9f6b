package cluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kubepki/kubepki/internal/pki"
)

// backupDir returns a backup folder name that does not exist yet:
// <KubeconfigDir>/tmp/kubepki-backup-<start time>, with -1, -2 … added
// when a run of the same second made one. Files in it are staged with
// the run's other files, and its folders made 0700 ([pki.ModeKeyDir]).
func (r *run) backupDir() string {
	base := filepath.Join(r.plan.KubeconfigDir, "tmp", "kubepki-backup-"+r.now().Format("2006-01-02-150405"))
	dir := base
	for i := 1; exists(dir); i++ {
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	return dir
}

// backupRel is where the plan's file path goes inside a backup folder:
// pki/<path under CertDir> or kubeconfig/<path under KubeconfigDir>,
// whichever folder holds it more closely (the certificate folder is often
// inside the kubeconfig folder).
func (p *Plan) backupRel(path string) string {
	certRel, certErr := filepath.Rel(p.CertDir, path)
	kcRel, kcErr := filepath.Rel(p.KubeconfigDir, path)
	inCert := certErr == nil && isWithin(p.CertDir, path)
	inKC := kcErr == nil && isWithin(p.KubeconfigDir, path)
	switch {
	case inCert && (!inKC || len(certRel) <= len(kcRel)):
		return filepath.Join("pki", certRel)
	case inKC:
		return filepath.Join("kubeconfig", kcRel)
	}
	return filepath.Join("other", filepath.Base(path))
}

// backupFile stages a copy of the plan's file path into the backup
// folder, at [Plan.backupRel]. The copy's mode is the file's narrowed to
// mode, the mode the file is replaced with, so that a copy of a key or
// kubeconfig is never more readable than 0600 even if the old file was.
func (p *Plan) backupFile(path, backup string, mode fs.FileMode) (stagedFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stagedFile{}, err
	}
	data, err := pki.ReadFile(path)
	if err != nil {
		return stagedFile{}, err
	}
	return stagedFile{path: filepath.Join(backup, p.backupRel(path)), data: data, mode: fi.Mode().Perm() & mode, dirMode: pki.ModeKeyDir}, nil
}

// pathMode is a file and the mode it is written with.
type pathMode struct {
	path string
	mode fs.FileMode
}

// pairModes are a certificate and its key with their modes.
func pairModes(crt, key string) []pathMode {
	return []pathMode{{crt, pki.ModeCert}, {key, pki.ModeKey}}
}
