package cluster

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

// RenewOptions selects what [Renew] re-issues.
type RenewOptions struct {
	// Names are plan names ("apiserver", "admin.conf") or "all"; "all"
	// means every certificate and kubeconfig of check-expiration.
	Names []string
	// RotateKeys makes a new key (of Options.KeyAlgorithm) for every
	// renewed certificate; otherwise each keeps its key.
	RotateKeys bool
}

// Renew re-issues certificates as "kubeadm certs renew" does: from the
// same CA, with the subject, SANs, key usages and extended key usages of
// the existing certificate, valid from the start time minus Backdate to
// the start time plus CertValidity, with a new serial. Kubeconfig files
// get the new certificate (and the current CA certificate) embedded, all
// other fields kept. Every replaced file is first copied, with its mode
// (never wider than the new file's: 0600 for keys and kubeconfigs), into
// a dated backup folder <KubeconfigDir>/tmp/kubepki-backup-<time> (0700),
// named in the result.
//
// Before signing, each renewal is linted like every issuance (see
// [Plan.Renew] for how the apiserver's names are judged) and must keep
// every SAN of the certificate it replaces.
//
// With an explicit name, a missing file or an external CA is an error;
// with "all" such entries are skipped with a warning, as kubeadm does, but
// when not one file of the plan is found (wrong folders), "all" fails
// with [ErrNothingToRenew]. A
// certificate not signed by its plan CA is an error. All files are staged:
// on error nothing is changed.
func Renew(ctx context.Context, opts Options, ro RenewOptions) (*Result, error) {
	p, err := NewPlan(withPlaceholders(opts))
	if err != nil {
		return nil, err
	}
	return p.Renew(ctx, ro)
}

// RenewableNames lists the names "certs renew" accepts for the plan, in
// check-expiration order.
func (p *Plan) RenewableNames() []string {
	var names []string
	for _, c := range p.Certs {
		names = append(names, c.Name)
	}
	for _, k := range p.Kubeconfigs {
		if k.Expiration {
			names = append(names, k.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Renew is [Renew] on a resolved plan. The renewed apiserver certificate
// is checked for the default names of lint rule L14 against the plan's
// service CIDR and DNS domain only when the options the plan was made
// from set ServiceCIDR or DNSDomain (a cluster file that says them, for
// instance). When both were empty, the plan's values are kubeadm's
// defaults, which need not be the cluster's: the renewal is then judged
// against the certificate in service, whose every SAN it keeps.
func (p *Plan) Renew(ctx context.Context, ro RenewOptions) (*Result, error) {
	all := slices.Contains(ro.Names, "all")
	names := ro.Names
	if all {
		names = p.RenewableNames()
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("nothing to renew: name certificates (%s) or all", strings.Join(p.RenewableNames(), ", "))
	}
	r := newRun(p)
	if err := r.start(false); err != nil {
		return nil, err
	}
	defer r.release()
	cas := map[string]*pki.CA{}
	loadCA := func(name string) (*pki.CA, error) {
		if ca, ok := cas[name]; ok {
			return ca, nil
		}
		spec := p.CA(name)
		crt, keyPath := p.CertPath(spec.BaseName, certSuffix), p.CertPath(spec.BaseName, keySuffix)
		if !exists(crt) {
			return nil, fmt.Errorf("CA certificate %s: %w", crt, os.ErrNotExist)
		}
		if !exists(keyPath) {
			return nil, fmt.Errorf("%w: detected external %s (%s is missing)", ErrExternalCA, name, keyPath)
		}
		ca, err := pki.LoadCA(crt, keyPath)
		if err != nil {
			return nil, err
		}
		ca.Now = r.now
		cas[name] = ca
		return ca, nil
	}
	backup := r.backupDir()
	st := stage{journal: p.journalPath()}
	var problems []error
	external := 0
	skip := func(name string, err error) {
		if all && (errors.Is(err, ErrExternalCA) || errors.Is(err, os.ErrNotExist)) {
			r.warnings = append(r.warnings, fmt.Sprintf("%s not renewed: %v", name, err))
			if errors.Is(err, ErrExternalCA) {
				external++
			}
			return
		}
		problems = append(problems, fmt.Errorf("renew %s: %w", name, err))
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		c, k := p.certSpec(name), p.kubeconfigSpec(name)
		switch {
		case c != nil:
			files, err := r.renewPair(c.Name, c.BaseName, c.CA, loadCA, ro.RotateKeys, backup)
			if err != nil {
				skip(name, err)
				continue
			}
			st.files = append(st.files, files...)
		case k != nil:
			files, err := r.renewKubeconfig(k, loadCA, ro.RotateKeys, backup)
			if err != nil {
				skip(name, err)
				continue
			}
			st.files = append(st.files, files...)
		default:
			problems = append(problems, fmt.Errorf("renew %s: %w; use one of %s or all", name, ErrUnknownName, strings.Join(p.RenewableNames(), ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if all && len(st.files) == 0 && external == 0 {
		return nil, fmt.Errorf("%w: no certificate in %s and no kubeconfig in %s; pass the cluster's folders with --cert-dir and --kubeconfig-dir",
			ErrNothingToRenew, p.CertDir, p.KubeconfigDir)
	}
	if err := st.commit(ctx); err != nil {
		return nil, err
	}
	res := &Result{Files: r.results, Warnings: append(r.warnings, r.cappedWarnings()...)}
	if len(st.files) > 0 {
		res.BackupDir = backup
	}
	return res, nil
}

func (p *Plan) certSpec(name string) *CertSpec {
	for i := range p.Certs {
		if p.Certs[i].Name == name {
			return &p.Certs[i]
		}
	}
	return nil
}

func (p *Plan) kubeconfigSpec(name string) *KubeconfigSpec {
	for i := range p.Kubeconfigs {
		if p.Kubeconfigs[i].Name == name && p.Kubeconfigs[i].Expiration {
			return &p.Kubeconfigs[i]
		}
	}
	return nil
}

// renewTemplate are the options that re-issue old: same subject, SANs,
// usages; the run's validity.
func (r *run) renewTemplate(old *x509.Certificate) pki.CertOptions {
	subject := old.Subject
	subject.Names, subject.ExtraNames = nil, nil
	return pki.CertOptions{
		Subject: subject,
		SANs: pki.SANs{DNSNames: old.DNSNames, IPAddresses: old.IPAddresses, URIs: old.URIs,
			EmailAddresses: old.EmailAddresses},
		KeyUsage:    old.KeyUsage,
		ExtKeyUsage: old.ExtKeyUsage,
		NotBefore:   r.now().Add(-Backdate),
		NotAfter:    r.now().Add(r.plan.CertValidity),
	}
}

// reissue signs a renewal of old with ca, with key or (rotate) a new key.
func (r *run) reissue(ca *pki.CA, old *x509.Certificate, key crypto.Signer, rotate bool, what string) (*x509.Certificate, crypto.Signer, error) {
	if err := old.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, nil, fmt.Errorf("%s is not signed by the CA %q, so renewing it would change its issuer; run \"kubepki init --force\" to replace it", what, ca.Cert.Subject.CommonName)
	}
	if rotate {
		var err error
		if key, err = pki.GenerateKey(r.plan.KeyAlgorithm); err != nil {
			return nil, nil, err
		}
	}
	cert, err := r.signRenewal(ca, key.Public(), r.renewTemplate(old), what, old)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// renewPair stages the renewal of a certificate file and its key.
func (r *run) renewPair(name, baseName, caName string, loadCA func(string) (*pki.CA, error), rotate bool, backup string) ([]stagedFile, error) {
	crt, keyPath := r.plan.CertPath(baseName, certSuffix), r.plan.CertPath(baseName, keySuffix)
	if !exists(crt) {
		return nil, fmt.Errorf("%s: %w", crt, os.ErrNotExist)
	}
	ca, err := loadCA(caName)
	if err != nil {
		return nil, err
	}
	old, err := pki.ReadCertificateFile(crt)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	if !rotate {
		if key, err = pki.ReadPrivateKeyFile(keyPath); err != nil {
			return nil, fmt.Errorf("%w; restore the key, or renew with --rotate-keys to make a new one", err)
		}
		if err := pki.KeyMatchesCertificate(key, old); err != nil {
			return nil, fmt.Errorf("%s does not match %s: restore the matching key, or renew with --rotate-keys to make a new one", keyPath, crt)
		}
	}
	cert, key, err := r.reissue(ca, old, key, rotate, crt)
	if err != nil {
		return nil, err
	}
	var files []stagedFile
	for _, f := range pairModes(crt, keyPath) {
		if f.path == keyPath && (!rotate || !exists(keyPath)) {
			continue
		}
		b, err := r.plan.backupFile(f.path, backup, f.mode)
		if err != nil {
			return nil, err
		}
		files = append(files, b)
	}
	files = append(files, stagedFile{path: crt, data: pki.MarshalCertificatePEM(cert), mode: pki.ModeCert, dirMode: pki.ModeKeyDir})
	r.result(name, KindCert, crt, StatusRenewed)
	if rotate {
		keyPEM, err := pki.MarshalPrivateKeyPEM(key)
		if err != nil {
			return nil, err
		}
		files = append(files, stagedFile{path: keyPath, data: keyPEM, mode: pki.ModeKey, dirMode: pki.ModeKeyDir})
		r.result(name, KindKey, keyPath, StatusRenewed)
	}
	return files, nil
}

// renewKubeconfig stages the renewal of the client certificate embedded
// in a kubeconfig (and of its certificate files, if it has them).
func (r *run) renewKubeconfig(k *KubeconfigSpec, loadCA func(string) (*pki.CA, error), rotate bool, backup string) ([]stagedFile, error) {
	path := r.plan.KubeconfigPath(k.Name)
	if !exists(path) {
		return nil, fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	ca, err := loadCA(CAName)
	if err != nil {
		return nil, err
	}
	e, err := readEmbedded(path)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKeyPEM(e.user.ClientKeyData)
	if err != nil {
		return nil, &MismatchError{File: path, Problem: "has an unreadable client-key-data: " + err.Error()}
	}
	cert, key, err := r.reissue(ca, e.cert, key, rotate, path)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	e.user.ClientCertificateData = pki.MarshalCertificatePEM(cert)
	e.user.ClientKeyData = keyPEM
	e.cluster.CertificateAuthorityData = pki.MarshalCertificatePEM(ca.Cert)
	data, err := kubeconfig.Marshal(e.cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := r.plan.backupFile(path, backup, pki.ModeKubeconfig)
	if err != nil {
		return nil, err
	}
	files := []stagedFile{b, {path: path, data: data, mode: pki.ModeKubeconfig, dirMode: kubeconfigDirMode(*k)}}
	r.result(k.Name, KindKubeconfig, path, StatusRenewed)
	if k.CertBaseName != "" {
		crt, keyPath := r.plan.CertPath(k.CertBaseName, certSuffix), r.plan.CertPath(k.CertBaseName, keySuffix)
		for _, f := range pairModes(crt, keyPath) {
			if exists(f.path) {
				b, err := r.plan.backupFile(f.path, backup, f.mode)
				if err != nil {
					return nil, err
				}
				files = append(files, b)
			}
		}
		files = append(files,
			stagedFile{path: crt, data: pki.MarshalCertificatePEM(cert), mode: pki.ModeCert, dirMode: pki.ModeKeyDir},
			stagedFile{path: keyPath, data: keyPEM, mode: pki.ModeKey, dirMode: pki.ModeKeyDir})
		r.result(k.Name, KindCert, crt, StatusRenewed)
		r.result(k.Name, KindKey, keyPath, StatusRenewed)
	}
	return files, nil
}
