package inspect

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// entry is one object with where it came from.
type entry struct {
	// source is the display name: the path, "path#N" for the Nth object of
	// a file, "path#users/NAME" for a kubeconfig user's certificate.
	source string
	// path is the file on disk, or "" for standard input; for objects
	// embedded in a kubeconfig it is the kubeconfig's path.
	path string
	// mode is the file's permission bits; hasMode is false for stdin.
	mode    fs.FileMode
	hasMode bool
	ref     string
	// roleHint forces the role ID, for files a manifest flag names.
	roleHint string
	// context marks a CA certificate or private key read from the folder
	// of a file named on the command line, only to find its issuer and
	// key; it is neither reported nor linted itself.
	context bool
	obj     Object
	err     error
	// embedded marks objects taken out of a kubeconfig; kubeconfigCluster
	// names the cluster whose CA a certificate is.
	embedded          bool
	kubeconfigCluster string
	// kubeconfigUser names the user whose client certificate this is.
	kubeconfigUser string
	// userKey is the public key of the client key of a kubeconfig user.
	userKey    *Object
	userKeyErr error
}

// set is every object read for one inspection or lint run.
type set struct {
	entries []*entry
	// signed caches signature checks, by the child's signature and the
	// parent's public key: kubeconfig files repeat the CA certificate, and
	// every rule asks for issuers again.
	signed map[string]bool
	// walked are the regular files found by directory walks, read or
	// skipped, for the checks of kubeadm's pairs.
	walked []string
}

// signedBy reports whether parent's key signed cert, with a cache.
func (s *set) signedBy(cert, parent *x509.Certificate) bool {
	k := string(cert.Signature) + "\x00" + string(cert.RawTBSCertificate) + "\x00" + string(parent.RawSubjectPublicKeyInfo)
	if ok, hit := s.signed[k]; hit {
		return ok
	}
	if s.signed == nil {
		s.signed = map[string]bool{}
	}
	ok := checkSignature(cert, parent) == nil
	s.signed[k] = ok
	return ok
}

// readOptions says how to read inputs.
type readOptions struct {
	stdin io.Reader
}

// readPaths reads every path: "-" is standard input, a directory is walked
// recursively (files that are not certificates, requests, keys or
// kubeconfigs are skipped silently there, unless [mustParse] says their
// name promises one), and a file that cannot be read or parsed is an entry
// with an error. Symbolic links inside directories
// are not followed, and backup folders of renewals are skipped
// ([isBackupDir]). A path that does not exist is an error.
func readPaths(paths []string, opts readOptions) (*set, error) {
	s := &set{}
	var explicit []string
	for _, p := range paths {
		if p == "-" {
			if opts.stdin == nil {
				return nil, errors.New("standard input is not available")
			}
			data, err := io.ReadAll(io.LimitReader(opts.stdin, MaxInputSize+1))
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			s.addData("-", "", 0, false, "", data, false)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", p, err)
		}
		if !st.IsDir() {
			s.addFile(p, "", false)
			explicit = append(explicit, p)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && isBackupDir(d.Name()) {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		sort.Strings(files)
		s.walked = append(s.walked, files...)
		for _, f := range files {
			s.addFile(f, "", true)
		}
	}
	s.addContext(explicit)
	return s, nil
}

// addContext reads, for files named one by one, the CA certificates of
// their folder (and of its etcd/ subfolder or, in an etcd folder, of its
// parent) and the private key paired with each certificate, so that a
// lone apiserver.crt is still checked against ca.crt and apiserver.key.
func (s *set) addContext(files []string) {
	read := map[string]bool{}
	for _, e := range s.entries {
		read[e.path] = true
	}
	var dirs []string
	for _, f := range files {
		dir := filepath.Dir(f)
		dirs = append(dirs, dir, filepath.Join(dir, "etcd"))
		if filepath.Base(dir) == "etcd" {
			dirs = append(dirs, filepath.Dir(dir))
		}
	}
	var candidates []string
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "*.crt"))
		candidates = append(candidates, matches...)
		pems, _ := filepath.Glob(filepath.Join(d, "*.pem"))
		candidates = append(candidates, pems...)
	}
	for _, f := range files {
		stem := strings.TrimSuffix(f, filepath.Ext(f))
		candidates = append(candidates, stem+".key", stem+"-key.pem")
	}
	for _, c := range candidates {
		if read[c] {
			continue
		}
		read[c] = true
		if st, err := os.Lstat(c); err != nil || !st.Mode().IsRegular() {
			continue
		}
		n := len(s.entries)
		s.addFile(c, "", true)
		kept := s.entries[:n]
		for _, e := range s.entries[n:] {
			isCA := e.err == nil && e.obj.Kind == KindCertificate && e.obj.Certificate.IsCA
			isKey := e.err == nil && e.obj.Kind == KindPrivateKey && !strings.HasSuffix(c, ".crt")
			if isCA || isKey {
				e.context = true
				kept = append(kept, e)
			}
		}
		s.entries = kept
	}
}

// isBackupDir reports whether name is a folder of replaced files that
// kubepki certs renew (tmp/kubepki-backup-<time>) or kubeadm
// (tmp/kubeadm-backup-*) keeps. A directory walk skips them: old files
// there are not in use; name the folder to check it.
func isBackupDir(name string) bool {
	return strings.HasPrefix(name, "kubepki-backup-") || strings.HasPrefix(name, "kubeadm-backup-")
}

// addFile reads and parses one file. In a directory walk (quiet), files
// that are not PEM, DER or kubeconfig are skipped, unless their name says
// they must be ([mustParse]).
func (s *set) addFile(path, ref string, quiet bool) {
	st, err := os.Stat(path) // an explicit symbolic link is read through, with its target's mode
	if err == nil && st.Size() > MaxInputSize {
		if !quiet || mustParse(path) {
			s.entries = append(s.entries, &entry{source: path, path: path, ref: ref, err: fmt.Errorf("%w: %d bytes", ErrTooLarge, st.Size())})
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		s.entries = append(s.entries, &entry{source: path, path: path, ref: ref, err: err})
		return
	}
	mode := fs.FileMode(0)
	if st != nil {
		mode = st.Mode().Perm()
	}
	s.addData(path, path, mode, st != nil, ref, data, quiet)
}

func (s *set) addData(source, path string, mode fs.FileMode, hasMode bool, ref string, data []byte, quiet bool) {
	objs, err := Parse(data)
	// A private key file's buffer is wiped once parsed; other objects keep
	// referring to DER input (x509.Certificate.Raw), so theirs is kept.
	if err == nil && !slices.ContainsFunc(objs, func(o Object) bool { return o.Kind != KindPrivateKey }) {
		clear(data)
	}
	if err != nil {
		// Nothing refers to data: a broken key's bytes go too.
		notPEM := !bytes.Contains(data, pemBegin)
		clear(data)
		// A README quoting a PEM placeholder is no broken certificate.
		skippable := errors.Is(err, ErrUnrecognized) || errors.Is(err, ErrEmpty) || errors.Is(err, ErrMalformedPEM)
		if quiet && skippable && !mustParse(path) {
			return
		}
		if hasPEMExtension(path) && notPEM && errors.Is(err, ErrUnrecognized) {
			// Parse's last guess, a kubeconfig, explains nothing here.
			err = fmt.Errorf("%w: not PEM (no -----BEGIN line) and not DER", ErrUnrecognized)
			if k := expectedKind(path); k != "" {
				err = fmt.Errorf("%w; a %s file holds %s", err, filepath.Ext(path), kindNames[k])
			}
		}
		s.entries = append(s.entries, &entry{source: source, path: path, mode: mode, hasMode: hasMode, ref: ref, err: err})
		return
	}
	for i, o := range objs {
		e := &entry{source: source, path: path, mode: mode, hasMode: hasMode, ref: ref, obj: o}
		if len(objs) > 1 {
			e.source = fmt.Sprintf("%s#%d", source, i+1)
		}
		s.entries = append(s.entries, e)
		if o.Kind == KindKubeconfig {
			s.expandKubeconfig(e)
		}
	}
}

// expandKubeconfig adds the certificates a kubeconfig carries or names:
// each cluster's CA certificates and each user's client certificate, with
// the user's client key's public half.
func (s *set) expandKubeconfig(kc *entry) {
	cfg := kc.obj.Kubeconfig
	base := filepath.Dir(kc.path)
	for _, name := range sortedKeys(cfg.Clusters) {
		c := cfg.Clusters[name]
		data, file, err := dataOrFile(c.CertificateAuthorityData, c.CertificateAuthority, base)
		if data == nil && err == nil {
			continue
		}
		src := kc.source + "#clusters/" + name
		if err != nil {
			s.entries = append(s.entries, &entry{source: src, path: kc.path, embedded: true, kubeconfigCluster: name, err: fmt.Errorf("read certificate-authority %s: %w", file, err)})
			continue
		}
		objs, err := Parse(data)
		if err != nil {
			s.entries = append(s.entries, &entry{source: src, path: kc.path, embedded: true, kubeconfigCluster: name, err: err})
			continue
		}
		for _, o := range objs {
			if o.Kind == KindCertificate {
				s.entries = append(s.entries, &entry{source: src, path: kc.path, embedded: true, kubeconfigCluster: name, obj: o})
			}
		}
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		u := cfg.AuthInfos[name]
		data, file, err := dataOrFile(u.ClientCertificateData, u.ClientCertificate, base)
		if data == nil && err == nil {
			continue
		}
		e := &entry{source: kc.source + "#users/" + name, path: kc.path, embedded: true, kubeconfigUser: name, mode: kc.mode, hasMode: kc.hasMode}
		if err != nil {
			e.err = fmt.Errorf("read client-certificate %s: %w", file, err)
			s.entries = append(s.entries, e)
			continue
		}
		// The kubelet's rotated kubelet-client-current.pem holds the
		// certificate and the key in one file, named by both fields.
		objs, err := Parse(data)
		i := slices.IndexFunc(objs, func(o Object) bool { return o.Kind == KindCertificate })
		if err == nil && i < 0 {
			err = fmt.Errorf("client certificate of user %s is not a certificate", name)
		}
		if err != nil {
			e.err = err
			s.entries = append(s.entries, e)
			continue
		}
		e.obj = objs[i]
		keyData, keyFile, err := dataOrFile(u.ClientKeyData, u.ClientKey, base)
		switch {
		case err != nil:
			e.userKeyErr = fmt.Errorf("read client-key %s: %w", keyFile, err)
		case keyData != nil:
			kobjs, err := Parse(keyData)
			clear(keyData)
			k := slices.IndexFunc(kobjs, func(o Object) bool { return o.Kind == KindPrivateKey })
			if err == nil && k < 0 {
				err = errors.New("client key is not a private key")
			}
			if err != nil {
				e.userKeyErr = err
			} else {
				e.userKey = &kobjs[k]
			}
		}
		s.entries = append(s.entries, e)
	}
}

// dataOrFile returns inline data if present, else the content of file
// resolved against base (kubeconfig paths are relative to the kubeconfig's
// directory, kubernetes-pki.md §7.2). Both empty returns nil, "", nil.
func dataOrFile(data []byte, file, base string) ([]byte, string, error) {
	if len(data) > 0 {
		return append([]byte(nil), data...), "", nil
	}
	if file == "" {
		return nil, "", nil
	}
	if !filepath.IsAbs(file) && base != "" {
		file = filepath.Join(base, file)
	}
	b, err := os.ReadFile(file)
	return b, file, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// certs returns the certificate entries.
func (s *set) certs() []*entry {
	var out []*entry
	for _, e := range s.entries {
		if e.err == nil && e.obj.Kind == KindCertificate {
			out = append(out, e)
		}
	}
	return out
}

// issuerOf returns the entry whose certificate signed e's, preferring files
// over kubeconfig data and CAs over other certificates; nil if none did.
func (s *set) issuerOf(e *entry) *entry {
	cert := e.obj.Certificate
	var best *entry
	for _, c := range s.certs() {
		if c == e || c.obj.Certificate.Equal(cert) {
			continue
		}
		if string(c.obj.Certificate.RawSubject) != string(cert.RawIssuer) {
			continue
		}
		if !s.signedBy(cert, c.obj.Certificate) {
			continue
		}
		if best == nil || (best.embedded && !c.embedded) {
			best = c
		}
	}
	return best
}

// keyFor returns the private key entry in the same directory as a
// certificate file whose name pairs with it (apiserver.crt ↔ apiserver.key,
// x.pem ↔ x-key.pem), or nil.
func (s *set) keyFor(e *entry) *entry {
	if e.embedded || e.path == "" {
		return nil
	}
	dir, base := filepath.Split(e.path)
	stem := strings.TrimSuffix(strings.TrimSuffix(base, filepath.Ext(base)), "-cert")
	names := map[string]bool{
		filepath.Join(dir, stem+".key"):     true,
		filepath.Join(dir, stem+"-key.pem"): true,
		filepath.Join(dir, stem+".key.pem"): true,
	}
	for _, k := range s.entries {
		if k.err == nil && k.obj.Kind == KindPrivateKey && names[k.path] {
			return k
		}
	}
	return nil
}

// kubeconfigOf returns the kubeconfig configuration of an embedded entry.
func (s *set) kubeconfigOf(e *entry) *clientcmdapi.Config {
	for _, k := range s.entries {
		if k.path == e.path && k.obj.Kind == KindKubeconfig {
			return k.obj.Kubeconfig
		}
	}
	return nil
}

// rolePath is the path whose name hints at e's role: none for a CA taken
// from a kubeconfig cluster, the kubeconfig's for its user's certificate.
func (e *entry) rolePath() string {
	if e.roleHint != "" {
		for file, id := range byFile {
			if id == e.roleHint {
				return file
			}
		}
	}
	if e.kubeconfigCluster != "" {
		return ""
	}
	return e.path
}
