package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// recoverInterrupted completes an interrupted earlier run before this one
// looks at the files, removes what a run killed before its commit record
// left, and says so in warnings.
func (r *run) recoverInterrupted() error {
	for _, dir := range []string{r.plan.CertDir, r.plan.KubeconfigDir} {
		if err := checkFolderPath(dir); err != nil {
			return err
		}
	}
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
