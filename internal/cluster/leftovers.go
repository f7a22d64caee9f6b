package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// paths returns every file the plan consists of: the CAs', the leaves'
// and the kubeconfigs' (with the certificate files some of them also
// write), and sa.key and sa.pub.
func (p *Plan) paths() []string {
	var out []string
	for _, c := range p.CAs {
		out = append(out, p.CertPath(c.BaseName, certSuffix), p.CertPath(c.BaseName, keySuffix))
	}
	for _, c := range p.Certs {
		out = append(out, p.CertPath(c.BaseName, certSuffix), p.CertPath(c.BaseName, keySuffix))
	}
	out = append(out, p.CertPath("sa", keySuffix), p.CertPath("sa", ".pub"))
	for _, k := range p.Kubeconfigs {
		out = append(out, p.KubeconfigPath(k.Name))
		if k.CertBaseName != "" {
			out = append(out, p.CertPath(k.CertBaseName, certSuffix), p.CertPath(k.CertBaseName, keySuffix))
		}
	}
	return out
}

// removeLeftovers removes the temporary files and folders ([tempName])
// that a run killed before it wrote its commit record left next to the
// plan's files, and next to the folders between them and the certificate
// or kubeconfig folder (a new tree's temporary copy). No record names
// them, so nothing else would ever remove them, and they hold private
// keys; "kubepki lint" of the folder would read them too. It must run
// after [recoverCommit], which renames the temporary files a record does
// name. Like the commit record, it assumes one kubepki run at a time per
// folder. It returns the paths it removed.
func (p *Plan) removeLeftovers() ([]string, error) {
	// For each folder, the base names whose temporary copies it may hold.
	bases := map[string]map[string]bool{}
	add := func(path string) {
		dir, base := filepath.Split(path)
		dir = filepath.Clean(dir)
		if bases[dir] == nil {
			bases[dir] = map[string]bool{}
		}
		bases[dir][base] = true
	}
	for _, path := range p.paths() {
		root := filepath.Clean(p.CertDir)
		if !isWithin(root, path) {
			root = filepath.Clean(p.KubeconfigDir)
		}
		add(path)
		for d := filepath.Dir(path); isWithin(root, d); d = filepath.Dir(d) {
			add(d)
			if d == root {
				break
			}
		}
	}
	var removed []string
	var errs []error
	for _, dir := range slices.Sorted(maps.Keys(bases)) {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("look for leftovers of an interrupted run in %s: %w", dir, err)
		}
		for _, e := range entries {
			base, ok := tempBase(e.Name())
			if !ok || !bases[dir][base] {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if err := os.RemoveAll(path); err != nil {
				errs = append(errs, fmt.Errorf("remove %s, left by an interrupted run: %w", path, err))
				continue
			}
			removed = append(removed, path)
		}
	}
	return removed, errors.Join(errs...)
}

// tempBase returns the base name whose temporary file or folder name is
// (tempPrefix(base) followed by tempName's random base-36 suffix), and
// whether name is one.
func tempBase(name string) (string, bool) {
	i := strings.LastIndex(name, tempMark)
	if !strings.HasPrefix(name, ".") || i <= 1 {
		return "", false
	}
	suffix := name[i+len(tempMark):]
	if suffix == "" || strings.Trim(suffix, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		return "", false
	}
	return name[1:i], true
}

// isWithin reports whether path is root or below it.
func isWithin(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
