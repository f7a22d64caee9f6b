package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kubepki/kubepki/internal/pki"
)

// journalName is the commit record's file name in the certificate folder.
const journalName = ".kubepki-commit.json"

// journalEntry is one rename of a commit: a durable temporary file and the
// file it replaces, or a durable temporary folder tree and the folder it
// becomes.
type journalEntry struct {
	Temp string `json:"temp"`
	Path string `json:"path"`
}

// journal is the commit record: once it is durable, the commit is decided,
// and a run that finds it completes the renames (roll forward).
type journal struct {
	Renames []journalEntry `json:"renames"`
}

// writeJournal writes the commit record of renames durably
// (pki.WriteFile: fsync and folder fsync).
func writeJournal(path string, renames []journalEntry) error {
	data, err := json.Marshal(journal{Renames: renames})
	if err != nil {
		return err
	}
	if _, err := mkdirs(filepath.Dir(path), pki.ModeKeyDir); err != nil {
		return err
	}
	if err := pki.WriteFile(path, data, pki.ModeKey); err != nil {
		return fmt.Errorf("write commit record: %w", err)
	}
	return nil
}

// recoverCommit completes a commit that a crash interrupted during its
// renames: every temporary file of the record that still exists is
// renamed over its target, the folders are synced and the record removed.
// It reports how many files it completed. A record whose entries do not
// name kubepki temporary files next to their targets is refused, so a
// planted record cannot move other files.
func recoverCommit(path string) (int, error) {
	data, err := pki.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read commit record %s: %w", path, err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return 0, fmt.Errorf("commit record %s is damaged (%v): check the folder with \"kubepki certs check-expiration\", then remove the record", path, err)
	}
	for _, e := range j.Renames {
		dir, base := filepath.Split(e.Path)
		if filepath.Dir(e.Temp) != filepath.Clean(dir) || !strings.HasPrefix(filepath.Base(e.Temp), tempPrefix(base)) {
			return 0, fmt.Errorf("commit record %s names %s for %s, which is not a kubepki temporary file: remove the record", path, e.Temp, e.Path)
		}
	}
	n := 0
	dirs := map[string]bool{}
	for _, e := range j.Renames {
		if _, err := os.Lstat(e.Temp); err != nil {
			continue // renamed before the crash
		}
		if err := os.Rename(e.Temp, e.Path); err != nil {
			return n, fmt.Errorf("complete interrupted write of %s: %w", e.Path, err)
		}
		n++
		dirs[filepath.Dir(e.Path)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return n, err
		}
	}
	if err := os.Remove(path); err != nil {
		return n, fmt.Errorf("remove commit record %s: %w", path, err)
	}
	return n, syncDir(filepath.Dir(path))
}

// journalPath is where the plan's commit record lives.
func (p *Plan) journalPath() string { return filepath.Join(p.CertDir, journalName) }

// LockFileName is the name of the lock file in the certificate folder:
// init, renew and issue hold an exclusive flock on it (Unix) while they
// work, and write their process ID into it. It stays when they are done.
const LockFileName = ".kubepki.lock"

// start begins a run that may write: it checks the folder paths, takes
// the certificate folder's lock (see [lockFolder]; create makes the
// folder, 0700, when missing, as init would, while without create a
// missing folder has nothing to protect), and then recovers an
// interrupted earlier run. Recovery removes temporary files that are not
// its own, so only the lock holder may do it. On success the caller must
// call r.release.
func (r *run) start(create bool) error {
	for _, dir := range []string{r.plan.CertDir, r.plan.KubeconfigDir} {
		if err := checkFolderPath(dir); err != nil {
			return err
		}
	}
	r.unlock = func() {}
	if create {
		dirs, err := mkdirs(r.plan.CertDir, pki.ModeKeyDir)
		if err != nil {
			for _, d := range slices.Backward(dirs) {
				os.Remove(d)
			}
			return err
		}
		r.startDirs = dirs
	}
	if create || exists(r.plan.CertDir) {
		unlock, err := lockFolder(r.plan.CertDir)
		if err != nil {
			// The folder is not ours to remove: the lock holder may
			// have just made it.
			r.startDirs = nil
			return err
		}
		r.unlock = unlock
	}
	if err := r.recoverInterrupted(); err != nil {
		r.undoStart()
		r.release()
		return err
	}
	return nil
}

// undoStart removes the lock file and the folders start made, if it made
// the certificate folder, so that a failed first init leaves no trace. It
// runs while the lock is held: a process that opened the lock file
// before it is removed still finds it locked, and then sees that it is
// gone (see lockFolder).
func (r *run) undoStart() {
	if len(r.startDirs) == 0 {
		return
	}
	os.Remove(filepath.Join(r.plan.CertDir, LockFileName))
	for _, d := range slices.Backward(r.startDirs) {
		os.Remove(d) // only when empty: a file in it is not ours to remove
	}
	r.startDirs = nil
}

// release gives up what start took.
func (r *run) release() {
	if r.unlock != nil {
		r.unlock()
		r.unlock = nil
	}
}

// recoverInterrupted completes an interrupted earlier run before this one
// looks at the files, removes what a run killed before its commit record
// left, and says so in warnings. The caller holds the folder's lock.
func (r *run) recoverInterrupted() error {
	n, err := recoverCommit(r.plan.journalPath())
	if err != nil {
		return err
	}
	if n > 0 {
		r.warnings = append(r.warnings, fmt.Sprintf("completed %d file writes of an interrupted earlier run (%s)", n, r.plan.journalPath()))
	}
	removed, err := r.plan.removeLeftovers()
	if len(removed) > 0 {
		r.warnings = append(r.warnings, fmt.Sprintf("removed %d temporary files of an interrupted earlier run: %s", len(removed), strings.Join(removed, ", ")))
	}
	return err
}

// checkFolderPath refuses a folder path whose nearest existing element is
// not a folder ("afile/pki" with afile a regular file), which otherwise
// shows first as a puzzling "not a directory" on the commit record.
// Missing folders are fine: the run makes them, and other errors are
// reported, with their cause, where the folder is used.
func checkFolderPath(dir string) error {
	if _, blocker, _ := missingFolders(dir); blocker != "" {
		return fmt.Errorf("%s is a file where a folder is needed for %s: choose another folder, or move the file", blocker, dir)
	}
	return nil
}
