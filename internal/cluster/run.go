package cluster

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

// Status says what a run did to a file.
type Status string

// The statuses of [FileResult].
const (
	// StatusCreated: the file did not exist and was written.
	StatusCreated Status = "created"
	// StatusUnchanged: the file existed, matched the plan and was kept.
	StatusUnchanged Status = "unchanged"
	// StatusReplaced: the file did not match and Force replaced it.
	StatusReplaced Status = "replaced"
	// StatusRenewed: Renew re-issued the certificate in the file.
	StatusRenewed Status = "renewed"
)

// File kinds of [FileResult].
const (
	KindCA         = "ca"
	KindCert       = "certificate"
	KindKey        = "key"
	KindPublicKey  = "public-key"
	KindKubeconfig = "kubeconfig"
)

// FileResult is one file of a run and what happened to it.
type FileResult struct {
	// Name is the plan entry the file belongs to ("ca", "apiserver",
	// "sa", "admin.conf").
	Name string `json:"name"`
	// Kind is one of "ca", "certificate", "key", "public-key",
	// "kubeconfig".
	Kind string `json:"kind"`
	// Path is the file's path.
	Path string `json:"path"`
	// Status is what the run did.
	Status Status `json:"status"`
}

// Result lists every file a run looked at, in plan order, and warnings
// that did not stop it (such as a kubeconfig whose server URL differs from
// the plan's).
type Result struct {
	Files    []FileResult `json:"files"`
	Warnings []string     `json:"warnings,omitempty"`
	// BackupDir is the folder where Renew kept the replaced files.
	BackupDir string `json:"backupDir,omitempty"`
}

// caState is a CA during a run.
type caState struct {
	spec    CASpec
	cert    *x509.Certificate
	ca      *pki.CA // nil when the key is absent (external CA)
	created bool
}

// job makes the material of one plan entry; jobs run in parallel.
type job func() ([]stagedFile, error)

// run is one execution over a plan: it checks what exists, collects every
// problem, makes what is missing in parallel and commits it as one stage.
type run struct {
	plan     *Plan
	cas      map[string]*caState
	results  []FileResult
	warnings []string
	errs     []error
	caJobs   []job
	jobs     []job

	missingDirs map[string]bool // see missingDir
	unlock      func()          // see start
	startDirs   []string        // folders start made, outermost first

	cappedMu sync.Mutex
	capped   map[string]*cappedCerts // by CA common name
}

func newRun(p *Plan) *run {
	return &run{plan: p, cas: map[string]*caState{}}
}

func (r *run) now() time.Time { return r.plan.Start }

// missingDir reports whether dir certainly does not exist, looking at
// each folder once per run. Planning happens before anything is written.
func (r *run) missingDir(dir string) bool {
	missing, ok := r.missingDirs[dir]
	if !ok {
		_, err := os.Lstat(dir)
		missing = errors.Is(err, fs.ErrNotExist)
		if r.missingDirs == nil {
			r.missingDirs = map[string]bool{}
		}
		r.missingDirs[dir] = missing
	}
	return missing
}

// noteCapped records that cert, issued by ca, ends at the CA's NotAfter
// instead of at notAfter, which the run asked for. It may be called from
// parallel jobs.
func (r *run) noteCapped(ca *pki.CA, cert *x509.Certificate, notAfter time.Time, certPath string) {
	if !cert.NotAfter.Before(notAfter) {
		return
	}
	r.cappedMu.Lock()
	defer r.cappedMu.Unlock()
	if r.capped == nil {
		r.capped = map[string]*cappedCerts{}
	}
	name := ca.Cert.Subject.CommonName
	if r.capped[name] == nil {
		r.capped[name] = &cappedCerts{caNotAfter: ca.Cert.NotAfter}
	}
	r.capped[name].paths = append(r.capped[name].paths, certPath)
}

// replacedWarnings says what replacing files means: for each CA made
// anew in place of an old one, that everything the old CA signed outside
// this run no longer verifies; and where the old files are.
func (r *run) replacedWarnings(backup string) []string {
	var out []string
	for _, spec := range r.plan.CAs {
		for _, f := range r.results {
			if f.Name == spec.Name && f.Kind == KindCA && f.Status == StatusReplaced {
				out = append(out, fmt.Sprintf("replaced the CA %s (%s): certificates and kubeconfigs the old one signed elsewhere (other nodes, users, kubelets) no longer verify; reissue them", spec.Name, f.Path))
			}
		}
	}
	return append(out, fmt.Sprintf("the replaced files are kept in %s", backup))
}

// cappedCerts are the certificates of a run that one CA's expiry cut short.
type cappedCerts struct {
	caNotAfter time.Time
	paths      []string
}

// cappedWarnings says, per CA, which certificates of the run are valid
// only until the CA expires, sooner than the validity asked for.
func (r *run) cappedWarnings() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.capped)) {
		c := r.capped[name]
		paths := slices.Sorted(slices.Values(c.paths))
		out = append(out, fmt.Sprintf("%s: valid only until the CA %q expires on %s, sooner than the %s asked for; make a new CA before then",
			strings.Join(paths, ", "), name, c.caNotAfter.UTC().Format(time.RFC3339), r.plan.CertValidity))
	}
	return out
}

func (r *run) result(name, kind, path string, st Status) {
	r.results = append(r.results, FileResult{Name: name, Kind: kind, Path: path, Status: st})
}

// fail records a problem; with Force a *MismatchError is not a problem
// and fail reports false so that the caller replaces the file.
func (r *run) fail(err error) (stop bool) {
	if _, ok := errors.AsType[*MismatchError](err); ok && r.plan.Force {
		return false
	}
	r.errs = append(r.errs, err)
	return true
}

// certOptions are the options of every leaf of the run: one start time,
// NotBefore = start-Backdate, NotAfter = start+CertValidity.
func (r *run) certOptions(cn string, org []string, eku []x509.ExtKeyUsage, sans pki.SANs) pki.CertOptions {
	return pki.CertOptions{
		Subject:     pkix.Name{CommonName: cn, Organization: org},
		SANs:        sans,
		ExtKeyUsage: eku,
		NotBefore:   r.now().Add(-Backdate),
		NotAfter:    r.now().Add(r.plan.CertValidity),
	}
}

// execute runs the CA jobs, then the other jobs, writing each job's files
// as soon as it has made them (so that the file system's work overlaps
// the crypto on the other cores), then commits them all. Nothing is
// written if any problem was recorded, and nothing is left if a job or
// the commit fails.
func (r *run) execute(ctx context.Context) (*Result, error) {
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	if len(r.caJobs)+len(r.jobs) == 0 {
		return &Result{Files: r.results, Warnings: r.warnings}, nil
	}
	st := stage{journal: r.plan.journalPath()}
	w, err := st.begin()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var secrets [][]byte
	defer func() {
		for _, b := range secrets {
			clear(b)
		}
	}()
	// Every file replaced (with Force) is first copied into a backup
	// folder, staged with the rest: the copies exist once the new files
	// do.
	backup := r.backupDir()
	backedUp := 0
	put := func(files []stagedFile) error {
		var copies []stagedFile
		for _, f := range files {
			if !exists(f.path) {
				continue
			}
			b, err := r.plan.backupFile(f.path, backup, f.mode)
			if err != nil {
				return fmt.Errorf("back up %s before replacing it: %w", f.path, err)
			}
			copies = append(copies, b)
		}
		files = append(copies, files...)
		mu.Lock()
		backedUp += len(copies)
		for _, f := range files {
			if !pki.OpenToOthers(f.mode) {
				secrets = append(secrets, f.data)
			}
		}
		mu.Unlock()
		return w.put(files)
	}
	pr := newProgress(r.plan.Progress, len(r.caJobs)+len(r.jobs))
	for _, wave := range [][]job{r.caJobs, r.jobs} {
		if err := runJobs(ctx, wave, pr, put); err != nil {
			return nil, w.finish(ctx, err)
		}
	}
	if err := w.finish(ctx, nil); err != nil {
		return nil, err
	}
	res := &Result{Files: r.results, Warnings: append(r.warnings, r.cappedWarnings()...)}
	if backedUp > 0 {
		res.BackupDir = backup
		res.Warnings = append(res.Warnings, r.replacedWarnings(backup)...)
	}
	return res, nil
}

// runJobs runs jobs on all cores and hands each job's files to put as
// soon as the job is done.
func runJobs(ctx context.Context, jobs []job, pr *progress, put func([]stagedFile) error) error {
	return parallel(ctx, runtime.GOMAXPROCS(0), len(jobs), func(i int) error {
		defer pr.step()
		files, err := jobs[i]()
		if err != nil {
			return err
		}
		return put(files)
	})
}

// progress counts finished jobs for Options.Progress.
type progress struct {
	mu    sync.Mutex
	done  int
	total int
	fn    func(done, total int)
}

func newProgress(fn func(done, total int), total int) *progress {
	return &progress{fn: fn, total: total}
}

// step records one finished job; it is a no-op on a nil progress or
// without a callback.
func (p *progress) step() {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.fn(p.done, p.total)
}

// keyFiles returns the staged certificate and key files of a pair.
func (r *run) pairFiles(baseName string, cert *x509.Certificate, key crypto.Signer) ([]stagedFile, error) {
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return []stagedFile{
		{path: r.plan.CertPath(baseName, certSuffix), data: pki.MarshalCertificatePEM(cert), mode: pki.ModeCert, dirMode: pki.ModeKeyDir},
		{path: r.plan.CertPath(baseName, keySuffix), data: keyPEM, mode: pki.ModeKey, dirMode: pki.ModeKeyDir},
	}, nil
}

// regularFiles reports whether each path is absent or a regular file. A
// symbolic link or other non-regular file is recorded as a problem that
// Force does not override: kubepki neither reads through nor replaces it.
func (r *run) regularFiles(paths ...string) bool {
	ok := true
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
			r.errs = append(r.errs, fmt.Errorf("%s is a %s, not a regular file: kubepki does not follow or replace it; move it away and retry", p, describeMode(fi.Mode())))
			ok = false
		}
	}
	return ok
}

// planCA checks one CA and schedules its creation when it is absent (or
// mismatching, with Force).
func (r *run) planCA(spec CASpec) {
	crt, keyPath := r.plan.CertPath(spec.BaseName, certSuffix), r.plan.CertPath(spec.BaseName, keySuffix)
	cs := &caState{spec: spec}
	r.cas[spec.Name] = cs
	if !r.regularFiles(crt, keyPath) {
		return
	}
	if err := checkKeyMode(keyPath); err != nil {
		r.fail(fmt.Errorf("refusing to use CA key: %w", err))
		return
	}
	status := StatusCreated
	clock := func() time.Time { return r.now() }
	switch certExists, keyExists := exists(crt), exists(keyPath); {
	case !certExists && !keyExists:
	case !keyExists:
		cert, err := pki.ReadCertificateFile(crt)
		if err == nil && (!cert.IsCA || !cert.BasicConstraintsValid) {
			err = pki.ErrNotCA
		}
		if err == nil && r.now().After(cert.NotAfter) {
			err = fmt.Errorf("expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
		}
		if err == nil {
			cs.cert = cert
			r.result(spec.Name, KindCA, crt, StatusUnchanged)
			return
		}
		if r.fail(&MismatchError{File: crt, Problem: "cannot be used as CA: " + err.Error(), Fix: r.caFix(spec, crt)}) {
			return
		}
		status = StatusReplaced
	case !certExists:
		if r.fail(&MismatchError{File: crt, Problem: "is missing while its key " + keyPath + " exists", Fix: r.caFix(spec, crt)}) {
			return
		}
		status = StatusReplaced
	default:
		ca, err := pki.LoadCA(crt, keyPath)
		if err == nil && r.now().After(ca.Cert.NotAfter) {
			err = fmt.Errorf("expired on %s", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		if err == nil {
			ca.Now = clock
			cs.cert, cs.ca = ca.Cert, ca
			r.result(spec.Name, KindCA, crt, StatusUnchanged)
			r.result(spec.Name, KindKey, keyPath, StatusUnchanged)
			return
		}
		if r.fail(&MismatchError{File: crt, Problem: "cannot be used as CA with " + keyPath + ": " + err.Error(), Fix: r.caFix(spec, keyPath)}) {
			return
		}
		status = StatusReplaced
	}
	cs.created = true
	r.result(spec.Name, KindCA, crt, status)
	r.result(spec.Name, KindKey, keyPath, status)
	r.caJobs = append(r.caJobs, func() ([]stagedFile, error) {
		ca, err := pki.NewSelfSignedCA(pki.CAOptions{
			CommonName:   spec.CommonName,
			KeyAlgorithm: r.plan.KeyAlgorithm,
			Validity:     r.plan.CAValidity,
			NotBefore:    r.now().Add(-Backdate),
			Now:          clock,
		})
		if err != nil {
			return nil, fmt.Errorf("create CA %s: %w", spec.Name, err)
		}
		cs.ca, cs.cert = ca, ca.Cert
		return r.pairFiles(spec.BaseName, ca.Cert, ca.Key)
	})
}

// caFix is the advice for a CA that cannot be used: restore the file at
// fault first, since the alternative, a new CA, invalidates everything
// the old one signed.
func (r *run) caFix(spec CASpec, fault string) string {
	return fmt.Sprintf("restore the original %s, for example from a backup (%s); only if the CA is lost, rerun with --force, "+
		"which makes a new CA %s (replacing %s and %s) and so invalidates every certificate and kubeconfig the old one signed; the replaced files are copied to %s first",
		fault, filepath.Join(r.plan.KubeconfigDir, "tmp", "kubepki-backup-*"), spec.Name,
		r.plan.CertPath(spec.BaseName, certSuffix), r.plan.CertPath(spec.BaseName, keySuffix), filepath.Join(r.plan.KubeconfigDir, "tmp"))
}

// externalCAError says that name cannot be made because its CA has no key.
func (r *run) externalCAError(cs *caState, what string) error {
	keyPath := r.plan.CertPath(cs.spec.BaseName, keySuffix)
	return fmt.Errorf("cannot create %s: %w: %s is missing; put the CA key there, or provide %s signed by the external CA",
		what, ErrExternalCA, keyPath, what)
}

// checkAgainstCA checks a pair against a CA, treating a CA being made in
// this run as one that signed nothing yet. renewName is checkPair's.
func (r *run) checkAgainstCA(cs *caState, crt, keyPath string, w want, renewName string) (pairState, *x509.Certificate, crypto.Signer, error) {
	if cs.created {
		if exists(crt) || exists(keyPath) {
			return 0, nil, nil, &MismatchError{File: crt, Problem: "exists but its CA " + cs.spec.Name + " is being made anew, so it cannot be signed by it"}
		}
		return stateAbsent, nil, nil, nil
	}
	return checkPair(crt, keyPath, w, cs.cert, r.now(), renewName)
}

// planCert checks one leaf pair and schedules its creation.
func (r *run) planCert(c CertSpec) {
	cs := r.cas[c.CA]
	if cs == nil {
		r.errs = append(r.errs, fmt.Errorf("certificate %s: unknown CA %q", c.Name, c.CA))
		return
	}
	if cs.cert == nil && !cs.created {
		return // the CA's problem is already recorded
	}
	crt, keyPath := r.plan.CertPath(c.BaseName, certSuffix), r.plan.CertPath(c.BaseName, keySuffix)
	status := StatusCreated
	// In a folder that does not exist (a new node's, say) there is
	// nothing to check: one stat for the folder instead of five per pair.
	if !r.missingDir(filepath.Dir(crt)) || !r.missingDir(filepath.Dir(keyPath)) {
		if !r.regularFiles(crt, keyPath) {
			return
		}
		if err := checkKeyMode(keyPath); err != nil {
			r.fail(err)
			return
		}
		st, _, _, err := r.checkAgainstCA(cs, crt, keyPath, wantOf(c), c.Name)
		if err != nil {
			if r.fail(err) {
				return
			}
			status = StatusReplaced
		} else if st == stateValid {
			r.result(c.Name, KindCert, crt, StatusUnchanged)
			r.result(c.Name, KindKey, keyPath, StatusUnchanged)
			return
		}
	}
	if cs.ca == nil && !cs.created {
		r.errs = append(r.errs, r.externalCAError(cs, crt))
		return
	}
	r.result(c.Name, KindCert, crt, status)
	r.result(c.Name, KindKey, keyPath, status)
	r.jobs = append(r.jobs, func() ([]stagedFile, error) {
		key, err := pki.GenerateKey(r.plan.KeyAlgorithm)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Name, err)
		}
		cert, err := r.sign(cs.ca, key.Public(), r.certOptions(c.CommonName, c.Organization, c.ExtKeyUsage,
			pki.SANs{DNSNames: c.DNSNames, IPAddresses: c.IPAddresses}), crt)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", c.Name, err)
		}
		return r.pairFiles(c.BaseName, cert, key)
	})
}

// planServiceAccount checks sa.key and sa.pub: an existing sa.key that
// parses is kept, and sa.pub must be its public key.
func (r *run) planServiceAccount() {
	keyPath := r.plan.CertPath("sa", ".key")
	pubPath := r.plan.CertPath("sa", ".pub")
	if !r.regularFiles(keyPath, pubPath) {
		return
	}
	if err := checkKeyMode(keyPath); err != nil {
		r.fail(err)
		return
	}
	const name = "sa"
	keyExists, pubExists := exists(keyPath), exists(pubPath)
	var key crypto.Signer
	keyStatus, pubStatus := StatusCreated, StatusCreated
	if keyExists {
		k, err := pki.ReadPrivateKeyFile(keyPath)
		if err != nil {
			if r.fail(&MismatchError{File: keyPath, Problem: "cannot be read: " + err.Error()}) {
				return
			}
			keyStatus, pubStatus = StatusReplaced, StatusReplaced
			if !pubExists {
				pubStatus = StatusCreated
			}
		} else {
			key, keyStatus = k, StatusUnchanged
			if pubExists {
				data, rerr := pki.ReadFile(pubPath)
				var pub crypto.PublicKey
				if rerr == nil {
					pub, rerr = pki.ParsePublicKeyPEM(data)
				}
				switch {
				case rerr != nil:
					if r.fail(&MismatchError{File: pubPath, Problem: "cannot be read: " + rerr.Error()}) {
						return
					}
					pubStatus = StatusReplaced
				case !pki.PublicKeysEqual(pub, key.Public()):
					if r.fail(&MismatchError{File: pubPath, Problem: "is not the public key of " + keyPath}) {
						return
					}
					pubStatus = StatusReplaced
				default:
					pubStatus = StatusUnchanged
				}
			}
		}
	} else if pubExists {
		if r.fail(&MismatchError{File: keyPath, Problem: "is missing while " + pubPath + " exists"}) {
			return
		}
		pubStatus = StatusReplaced
	}
	r.result(name, KindKey, keyPath, keyStatus)
	r.result(name, KindPublicKey, pubPath, pubStatus)
	if keyStatus == StatusUnchanged && pubStatus == StatusUnchanged {
		return
	}
	r.jobs = append(r.jobs, func() ([]stagedFile, error) {
		k := key
		var files []stagedFile
		if keyStatus != StatusUnchanged {
			var err error
			if k, err = pki.GenerateKey(r.plan.KeyAlgorithm); err != nil {
				return nil, fmt.Errorf("service-account key: %w", err)
			}
			keyPEM, err := pki.MarshalPrivateKeyPEM(k)
			if err != nil {
				return nil, err
			}
			files = append(files, stagedFile{path: keyPath, data: keyPEM, mode: pki.ModeKey, dirMode: pki.ModeKeyDir})
		}
		pubPEM, err := pki.MarshalPublicKeyPEM(k.Public())
		if err != nil {
			return nil, err
		}
		return append(files, stagedFile{path: pubPath, data: pubPEM, mode: pki.ModePublicKey, dirMode: pki.ModeKeyDir}), nil
	})
}

// planKubeconfig checks one kubeconfig (and its certificate files, if it
// has them) and schedules what is missing.
func (r *run) planKubeconfig(k KubeconfigSpec) {
	cs := r.cas[CAName]
	if cs == nil || (cs.cert == nil && !cs.created) {
		return // the CA's problem is already recorded
	}
	path := r.plan.KubeconfigPath(k.Name)
	w := wantOfKubeconfig(k)
	if !r.regularFiles(path) {
		return
	}

	var kcState pairState
	var kcCert *x509.Certificate
	var kcKey crypto.Signer
	var kcErr error
	if cs.created {
		if exists(path) {
			kcErr = &MismatchError{File: path, Problem: "exists but the CA ca is being made anew, so its certificate cannot be signed by it"}
		}
	} else {
		var warn string
		kcState, kcCert, kcKey, warn, kcErr = checkKubeconfig(path, k, cs.cert, r.now())
		if warn != "" {
			r.warnings = append(r.warnings, warn)
		}
	}

	var crt, keyPath string
	var fState pairState
	var fCert *x509.Certificate
	var fKey crypto.Signer
	var fErr error
	if k.CertBaseName != "" {
		crt, keyPath = r.plan.CertPath(k.CertBaseName, certSuffix), r.plan.CertPath(k.CertBaseName, keySuffix)
		if !r.regularFiles(crt, keyPath) {
			return
		}
		if err := checkKeyMode(keyPath); err != nil {
			r.fail(err)
			return
		}
		fState, fCert, fKey, fErr = r.checkAgainstCA(cs, crt, keyPath, w, renewableName(k))
	}

	kcStatus, fStatus := StatusCreated, StatusCreated
	var reuseCert *x509.Certificate
	var reuseKey crypto.Signer
	switch {
	case kcErr != nil:
		if r.fail(kcErr) {
			return
		}
		kcStatus = StatusReplaced
		if fState == stateValid || fErr != nil {
			fStatus = StatusReplaced
		}
	case kcState == stateValid:
		kcStatus = StatusUnchanged
		reuseCert, reuseKey = kcCert, kcKey
		switch {
		case k.CertBaseName == "":
		case fErr != nil:
			if r.fail(fErr) {
				return
			}
			fStatus = StatusReplaced
		case fState == stateValid && !fCert.Equal(kcCert):
			if r.fail(&MismatchError{File: crt, Problem: "is not the certificate embedded in " + path}) {
				return
			}
			fStatus = StatusReplaced
		case fState == stateValid:
			fStatus = StatusUnchanged
		}
	default: // kubeconfig absent
		switch {
		case k.CertBaseName == "":
		case fErr != nil:
			if r.fail(fErr) {
				return
			}
			fStatus = StatusReplaced
		case fState == stateValid:
			fStatus = StatusUnchanged
			reuseCert, reuseKey = fCert, fKey
		}
	}
	r.result(k.Name, KindKubeconfig, path, kcStatus)
	if k.CertBaseName != "" {
		r.result(k.Name, KindCert, crt, fStatus)
		r.result(k.Name, KindKey, keyPath, fStatus)
	}
	if kcStatus == StatusUnchanged && (k.CertBaseName == "" || fStatus == StatusUnchanged) {
		return
	}
	if reuseCert == nil && cs.ca == nil && !cs.created {
		r.errs = append(r.errs, r.externalCAError(cs, path))
		return
	}
	r.jobs = append(r.jobs, func() ([]stagedFile, error) {
		cert, key := reuseCert, reuseKey
		if cert == nil {
			var err error
			if key, err = pki.GenerateKey(r.plan.KeyAlgorithm); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", k.Name, err)
			}
			if cert, err = r.sign(cs.ca, key.Public(), r.certOptions(k.CommonName, k.Organization, ekuClient, pki.SANs{}), path); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", k.Name, err)
			}
		}
		var files []stagedFile
		if kcStatus != StatusUnchanged {
			data, err := r.kubeconfigData(k, cs.cert, cert, key)
			if err != nil {
				return nil, err
			}
			files = append(files, stagedFile{path: path, data: data, mode: pki.ModeKubeconfig, dirMode: kubeconfigDirMode(k)})
		}
		if k.CertBaseName != "" && fStatus != StatusUnchanged {
			pair, err := r.pairFiles(k.CertBaseName, cert, key)
			if err != nil {
				return nil, err
			}
			files = append(files, pair...)
		}
		return files, nil
	})
}

// kubeconfigData encodes the kubeconfig of k in kubeadm's shape.
func (r *run) kubeconfigData(k KubeconfigSpec, caCert, cert *x509.Certificate, key crypto.Signer) ([]byte, error) {
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	data, err := kubeconfig.MarshalCertConfig(r.plan.ClusterName, k.Server, pki.MarshalCertificatePEM(caCert),
		k.CommonName, pki.MarshalCertificatePEM(cert), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", k.Name, err)
	}
	return data, nil
}
