package kubeconfig

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepki/kubepki/internal/pki"
)

// WrittenFile is one file [Modify] wrote.
type WrittenFile struct {
	// Path is the file as access names it.
	Path string
	// Target is the file written: Path with its symlinks followed.
	Target string
	// Existed reports whether Target existed before; OldMode is then
	// its permission bits.
	Existed bool
	OldMode fs.FileMode
}

// Modify writes cfg as "kubectl config" does, with the rules of
// [clientcmd.ModifyConfig](access, *cfg, true): a changed or deleted
// cluster, user or context goes to the file it came from (its
// LocationOfOrigin), a new one and a new current-context to
// access.GetDefaultFilename() (the explicit file if there is one), paths
// are written relative to the destination file's folder when they are
// below it, and a missing destination is created. Like kubectl, it holds a
// FILE.lock for every file of access.GetLoadingPrecedence() meanwhile.
//
// Unlike clientcmd, which truncates and rewrites each file in place, every
// file is replaced atomically with [pki.WriteFile]: a temporary file created
// 0600 in the folder of the real file, synced, renamed over it, and the
// folder synced, so that no reader and no crash or failed write (disk full,
// file size limit) ever sees a kubeconfig half-written (security.md §2.7).
// The result is always mode [pki.ModeKubeconfig] (0600), even if the file
// was readable by others before: it may now hold a private key, and a
// chmod after writing would expose it for an instant (§2.8). A symlink is
// written through to its target and stays a symlink, as with kubectl. When
// run as root, the file keeps its owner and group: the temporary file is
// given them before the rename. As kubectl fails on a file it may not
// write, so does Modify, and, since only root can give a file away, it
// refuses to replace another user's file. Missing folders of access's
// files are created 0700 (kubectl makes them 0755).
//
// clientcmd.ModifyConfig has no way to redirect its writes, and giving it
// a ConfigAccess of temporary copies is not enough: the entries' own
// LocationOfOrigin names the real files, paths would be relativized
// against the copies' folder (not a symlink's, as kubectl does), and the
// locks would be on the copies. So Modify runs its algorithm (same order,
// same reads, same encoding) on the files' contents in memory, and writes
// each changed file once at the end. Files
// are checked before any is written; if writing one fails, it is left
// byte-identical with no temporary file behind, but files written before it
// stay written (kubectl gives no more across files). Modify returns the
// files it wrote, also when it fails.
func Modify(access clientcmd.ConfigAccess, cfg *clientcmdapi.Config) ([]WrittenFile, error) {
	if cfg == nil {
		return nil, errors.New("modify kubeconfig: nil config")
	}
	unlock, err := lockFiles(access.GetLoadingPrecedence())
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := &modification{access: access, files: map[string]*pendingFile{}}
	defer m.clear()
	if err := m.apply(*cfg); err != nil {
		return nil, err
	}
	return m.commit()
}

// lockFiles takes kubectl's lock on each of files (FILE.lock, created
// exclusively), in sorted order as clientcmd.ModifyConfig does so that
// kubectl and kubepki never deadlock, and returns the function that
// releases them.
func lockFiles(files []string) (unlock func(), err error) {
	sorted := slices.Clone(files)
	slices.Sort(sorted)
	var locked []string
	unlock = func() {
		for _, l := range locked {
			os.Remove(l)
		}
	}
	for _, f := range sorted {
		if err := pki.MkdirAll(filepath.Dir(f), pki.ModeKeyDir); err != nil {
			unlock()
			return nil, err
		}
		l := f + ".lock"
		lf, err := os.OpenFile(l, os.O_CREATE|os.O_EXCL, 0)
		if err != nil {
			unlock()
			if errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("lock kubeconfig %s: %s exists; if no kubectl or kubepki is changing the file, remove it", f, l)
			}
			return nil, fmt.Errorf("lock kubeconfig %s: %w", f, err)
		}
		lf.Close()
		locked = append(locked, l)
	}
	return unlock, nil
}

// modification is one run of clientcmd.ModifyConfig's algorithm on
// in-memory file contents.
type modification struct {
	access clientcmd.ConfigAccess
	// files holds each file written so far, keyed by the absolute path of
	// its target, so that two names of one file (a symlink and its
	// target, both in $KUBECONFIG) see each other's changes, as on disk;
	// order is the order of first writes.
	files map[string]*pendingFile
	order []*pendingFile
}

// pendingFile is the new content of one file.
type pendingFile struct {
	name   string // the name it was first written under
	target string // name with its symlinks followed
	data   []byte
}

// lookup returns the pending file for name, if any, and the key and
// target of name.
func (m *modification) lookup(name string) (p *pendingFile, key, target string, err error) {
	target, err = resolveLinks(name)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", name, err)
	}
	key, err = filepath.Abs(target)
	if err != nil {
		return nil, "", "", err
	}
	return m.files[key], key, target, nil
}

// read is clientcmd's getConfigFromFile on the pending contents: the
// file as last written, else as on disk, an empty config if missing.
func (m *modification) read(name string) (*clientcmdapi.Config, error) {
	p, _, _, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	var data []byte
	if p != nil {
		data = p.data
	} else {
		data, err = os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			return clientcmdapi.NewConfig(), nil
		}
		if err != nil {
			return nil, err
		}
		defer clear(data)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, err
	}
	// As clientcmd.LoadFromFile does.
	for _, c := range cfg.Clusters {
		c.LocationOfOrigin = name
	}
	for _, u := range cfg.AuthInfos {
		u.LocationOfOrigin = name
	}
	for _, c := range cfg.Contexts {
		c.LocationOfOrigin = name
	}
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]*clientcmdapi.Cluster{}
	}
	if cfg.AuthInfos == nil {
		cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{}
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]*clientcmdapi.Context{}
	}
	return cfg, nil
}

// write is clientcmd.WriteToFile into the pending contents.
func (m *modification) write(cfg *clientcmdapi.Config, name string) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	p, key, target, err := m.lookup(name)
	if err != nil {
		return err
	}
	if p == nil {
		p = &pendingFile{name: name, target: target}
		m.files[key] = p
		m.order = append(m.order, p)
	}
	clear(p.data)
	p.data = data
	return nil
}

// exists reports whether name exists once the pending writes are done.
func (m *modification) exists(name string) bool {
	if p, _, _, err := m.lookup(name); err == nil && p != nil {
		return true
	}
	_, err := os.Stat(name)
	return err == nil
}

// clear wipes the pending contents, which may hold private keys.
func (m *modification) clear() {
	for _, p := range m.order {
		clear(p.data)
	}
}

// destination is where a change to an entry from origin goes.
func (m *modification) destination(origin string) string {
	if origin == "" {
		return m.access.GetDefaultFilename()
	}
	return origin
}

// apply is the body of clientcmd.ModifyConfig (client-go v0.37,
// tools/clientcmd/config.go) with relativizePaths true, reading and
// writing through m. Keep it in step with upstream: the kubectl
// comparison tests in internal/cli check the files it produces.
func (m *modification) apply(newConfig clientcmdapi.Config) error {
	startingConfig, err := m.access.GetStartingConfig()
	if err != nil {
		return err
	}
	if reflect.DeepEqual(*startingConfig, newConfig) {
		return nil
	}
	if startingConfig.CurrentContext != newConfig.CurrentContext {
		if err := m.writeCurrentContext(newConfig.CurrentContext); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(startingConfig.Preferences, newConfig.Preferences) {
		if err := m.writePreferences(newConfig.Preferences); err != nil {
			return err
		}
	}

	for key, cluster := range newConfig.Clusters {
		startingCluster, exists := startingConfig.Clusters[key]
		if reflect.DeepEqual(cluster, startingCluster) && exists {
			continue
		}
		dest := m.destination(cluster.LocationOfOrigin)
		toWrite, err := m.read(dest)
		if err != nil {
			return err
		}
		t := *cluster
		t.LocationOfOrigin = dest
		if err := clientcmd.RelativizeClusterLocalPaths(&t); err != nil {
			return err
		}
		toWrite.Clusters[key] = &t
		if err := m.write(toWrite, dest); err != nil {
			return err
		}
	}

	// Contexts are gathered per file and written once, as upstream.
	seen := map[string]*clientcmdapi.Config{}
	var seenOrder []string
	for key, context := range newConfig.Contexts {
		startingContext, exists := startingConfig.Contexts[key]
		if reflect.DeepEqual(context, startingContext) && exists {
			continue
		}
		dest := m.destination(context.LocationOfOrigin)
		toWrite, ok := seen[dest]
		if !ok {
			if toWrite, err = m.read(dest); err != nil {
				return err
			}
			seen[dest] = toWrite
			seenOrder = append(seenOrder, dest)
		}
		toWrite.Contexts[key] = context
	}
	for _, dest := range seenOrder {
		if err := m.write(seen[dest], dest); err != nil {
			return err
		}
	}

	for key, authInfo := range newConfig.AuthInfos {
		startingAuthInfo, exists := startingConfig.AuthInfos[key]
		if reflect.DeepEqual(authInfo, startingAuthInfo) && exists {
			continue
		}
		dest := m.destination(authInfo.LocationOfOrigin)
		toWrite, err := m.read(dest)
		if err != nil {
			return err
		}
		t := *authInfo
		t.LocationOfOrigin = dest
		if err := clientcmd.RelativizeAuthInfoLocalPaths(&t); err != nil {
			return err
		}
		toWrite.AuthInfos[key] = &t
		if err := m.write(toWrite, dest); err != nil {
			return err
		}
	}

	for key, cluster := range startingConfig.Clusters {
		if _, exists := newConfig.Clusters[key]; !exists {
			if err := m.deleteFrom(cluster.LocationOfOrigin, func(c *clientcmdapi.Config) { delete(c.Clusters, key) }); err != nil {
				return err
			}
		}
	}
	for key, context := range startingConfig.Contexts {
		if _, exists := newConfig.Contexts[key]; !exists {
			if err := m.deleteFrom(context.LocationOfOrigin, func(c *clientcmdapi.Config) { delete(c.Contexts, key) }); err != nil {
				return err
			}
		}
	}
	for key, authInfo := range startingConfig.AuthInfos {
		if _, exists := newConfig.AuthInfos[key]; !exists {
			if err := m.deleteFrom(authInfo.LocationOfOrigin, func(c *clientcmdapi.Config) { delete(c.AuthInfos, key) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteFrom rewrites the file an entry came from with del applied.
func (m *modification) deleteFrom(origin string, del func(*clientcmdapi.Config)) error {
	dest := m.destination(origin)
	toWrite, err := m.read(dest)
	if err != nil {
		return err
	}
	del(toWrite)
	return m.write(toWrite, dest)
}

// writeCurrentContext is clientcmd's writeCurrentContext: a new
// current-context goes to the explicit file or the default destination;
// an empty one is cleared in the first file of the chain that sets one.
func (m *modification) writeCurrentContext(newCurrentContext string) error {
	var file string
	switch {
	case m.access.IsExplicitFile():
		file = m.access.GetExplicitFile()
	case newCurrentContext != "":
		file = m.access.GetDefaultFilename()
	default:
		for _, f := range m.access.GetLoadingPrecedence() {
			if !m.exists(f) {
				continue
			}
			cfg, err := m.read(f)
			if err != nil {
				return err
			}
			if cfg.CurrentContext != "" {
				cfg.CurrentContext = ""
				return m.write(cfg, f)
			}
		}
		return errors.New("no config found to write context")
	}
	cfg, err := m.read(file)
	if err != nil {
		return err
	}
	cfg.CurrentContext = newCurrentContext
	return m.write(cfg, file)
}

// writePreferences is clientcmd's writePreferences: to the explicit file,
// else to the first file of the chain whose preferences differ.
func (m *modification) writePreferences(prefs clientcmdapi.Preferences) error {
	if m.access.IsExplicitFile() {
		file := m.access.GetExplicitFile()
		cfg, err := m.read(file)
		if err != nil {
			return err
		}
		cfg.Preferences = prefs
		return m.write(cfg, file)
	}
	for _, f := range m.access.GetLoadingPrecedence() {
		cfg, err := m.read(f)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(cfg.Preferences, prefs) {
			cfg.Preferences = prefs
			return m.write(cfg, f)
		}
	}
	return errors.New("no config found to write preferences")
}

// commit writes the pending files, each atomically. Every target is
// checked first, so that a folder in the way, or a file kubectl could not
// write (no write permission), fails before any file is replaced.
func (m *modification) commit() ([]WrittenFile, error) {
	plan := make([]WrittenFile, len(m.order))
	owners := make([]owner, len(m.order))
	for i, p := range m.order {
		plan[i] = WrittenFile{Path: p.name, Target: p.target}
		fi, err := os.Lstat(p.target)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update kubeconfig %s: %w", p.name, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("update kubeconfig %s: %s is not a regular file (%s); remove it or choose another kubeconfig file", p.name, p.target, fi.Mode().Type())
		}
		// kubectl rewrites the file in place, so it fails on a file the
		// user may not write (made read-only on purpose, or another
		// user's); replacing it with a rename would not.
		f, err := os.OpenFile(p.target, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("update kubeconfig %s: %w", p.name, err)
		}
		f.Close()
		if owners[i], err = fileOwner(fi); err != nil {
			return nil, fmt.Errorf("update kubeconfig %s: %w", p.name, err)
		}
		plan[i].Existed, plan[i].OldMode = true, fi.Mode().Perm()
	}
	var written []WrittenFile
	for i, w := range plan {
		if err := writeFile(w.Target, m.order[i].data, owners[i]); err != nil {
			return written, fmt.Errorf("update kubeconfig %s: %w; the file is unchanged", w.Path, err)
		}
		written = append(written, w)
	}
	return written, nil
}

// maxSymlinks is how many symlinks resolveLinks follows, as Linux's
// MAXSYMLINKS.
const maxSymlinks = 40

// resolveLinks returns the file that writing to name writes: name, or the
// end of the chain of symlinks at name, which need not exist (kubectl then
// creates it). Folders on the way are left as they are: a rename through
// a symlinked folder replaces the file in the real one.
func resolveLinks(name string) (string, error) {
	p := name
	for range maxSymlinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			// The kernel resolves link from the real folder of p, where
			// ".." may lead elsewhere than in p's name.
			dir, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return "", err
			}
			link = filepath.Join(dir, link)
		}
		p = link
	}
	return "", fmt.Errorf("more than %d levels of symbolic links", maxSymlinks)
}

// writeFile writes data to target, a regular file or nothing, atomically
// with mode 0600. With an owner to keep (see [fileOwner]), the file is
// first written under a fresh temporary name next to target with
// [pki.WriteFileNew], given the owner, synced and renamed over target, so
// that it has the right owner from the moment it appears there. Errors
// start with "write TARGET: ".
func writeFile(target string, data []byte, o owner) (err error) {
	dir := filepath.Dir(target)
	if err := pki.MkdirAll(dir, pki.ModeKeyDir); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if !o.keep {
		if err := pki.WriteFile(target, data, pki.ModeKubeconfig); err != nil {
			return writeError(target, err)
		}
		return nil
	}
	staged := filepath.Join(dir, "."+filepath.Base(target)+".kubepki-"+rand.Text())
	if err := pki.WriteFileNew(staged, data, pki.ModeKubeconfig); err != nil {
		return writeError(target, err)
	}
	defer func() {
		if err != nil {
			os.Remove(staged)
		}
	}()
	if err := o.apply(staged); err != nil {
		return fmt.Errorf("write %s: keep owner %d:%d: %w", target, o.uid, o.gid, err)
	}
	if err := os.Rename(staged, target); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := pki.SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}

// writeError is err, from writing target through a temporary file, as
// "write TARGET: CAUSE": the temporary files' names mean nothing to the
// user, who only needs to know what went wrong (file too large, no space
// left on device).
func writeError(target string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("write %s: %w", target, pe.Err)
	}
	return fmt.Errorf("write %s: %w", target, err)
}
