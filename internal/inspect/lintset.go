package inspect

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/pki"
)

// LintOptions control [Lint]. Context supplies the cluster settings (DNS
// domain, service CIDR, API server addresses, node name, clock, expiry
// window); its Path, Role and CA are ignored, since Lint reads them from
// the files.
type LintOptions struct {
	Options
	Context Context
}

// LintReport is the result of [Lint].
type LintReport struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Findings   []Finding `json:"findings"`
	// Errors and Warnings count the findings by severity.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// Files is the number of files read; Certificates the number of
	// certificates checked, including those inside kubeconfig files.
	Files        int `json:"files"`
	Certificates int `json:"certificates"`
}

// Lint reads every path as [Inspect] does and checks each certificate,
// request, key and kubeconfig against the catalogue ([Rules]), alone
// ([LintCertificate]) and together: key pairs (L22), the CA each
// certificate's role requires among the CAs read (L20, L21, L28, L37),
// serials shared under one CA (L38), key file modes (L39), kubeconfig
// credentials (L31, L32) and the addresses kubeconfigs dial (L15).
func Lint(paths []string, opts LintOptions) (*LintReport, error) {
	s, err := readPaths(paths, readOptions{stdin: opts.Stdin})
	if err != nil {
		return nil, err
	}
	ctx := opts.Context
	if ctx.Now.IsZero() {
		ctx.Now = opts.now()
	}
	return s.lint(ctx), nil
}

func (s *set) lint(ctx Context) *LintReport {
	rep := &LintReport{APIVersion: APIVersion, Kind: LintReportKind, Findings: []Finding{}}
	files := map[string]bool{}
	for _, e := range s.entries {
		if !e.context {
			files[e.path] = true
		}
	}
	rep.Files = len(files)
	rep.Findings = s.findings(ctx)
	for _, e := range s.entries {
		if e.err == nil && e.obj.Kind == KindCertificate && !e.context {
			rep.Certificates++
		}
	}
	for _, f := range rep.Findings {
		if f.Severity == SeverityError {
			rep.Errors++
		} else {
			rep.Warnings++
		}
	}
	return rep
}

// findings runs every rule over s.
func (s *set) findings(ctx Context) []Finding {
	var fs []Finding
	certs := s.certs()
	// CAs read, by role, preferring files over kubeconfig data.
	cas := map[string]*entry{}
	var anyCA bool
	roles := map[*entry]role{}
	for _, e := range certs {
		r := classify(e.obj.Certificate, e.rolePath())
		roles[e] = r
		if r.ca || e.kubeconfigCluster != "" {
			anyCA = true
			if prev, ok := cas[r.id]; r.ca && (!ok || (prev.embedded && !e.embedded)) {
				cas[r.id] = e
			}
		}
	}
	for _, e := range certs {
		if iss := s.issuerOf(e); iss != nil && iss != e && !roles[iss].ca && !isLeafRole(roles[iss].id) {
			// It signed a certificate: lint it as a CA. A certificate of a
			// kubeadm leaf role keeps its role, so that a CA:TRUE leaf
			// minting certificates is reported as such (L25).
			roles[iss] = caRoles[RoleCA]
		}
	}

	seen := map[string]bool{} // lint a certificate found twice only once
	serials := map[string]*entry{}
	wrongCAData := map[*entry]bool{} // kubeconfig clusters reported under L47
	// Files first, so that a CA both in ca.crt and in kubeconfig files is
	// reported under ca.crt.
	ordered := slices.Clone(certs)
	slices.SortStableFunc(ordered, func(a, b *entry) int {
		switch {
		case a.embedded == b.embedded:
			return 0
		case b.embedded:
			return -1
		}
		return 1
	})
	for _, e := range ordered {
		if e.context {
			continue
		}
		cert := e.obj.Certificate
		r := roles[e]
		// A certificate is linted once, except a user's certificate, whose
		// kubeconfig gives it its own expected CA, and a file, whose name
		// gives it its role and its key: the same bytes in ca.crt and
		// apiserver.crt (a mistaken cp) are two findings' worth.
		key := string(cert.Raw) + "\x00" + e.kubeconfigUser
		if !e.embedded {
			key += "\x00" + filepath.Clean(e.path)
		}
		if seen[key] || (e.kubeconfigCluster != "" && seen[string(cert.Raw)]) {
			continue
		}
		seen[key], seen[string(cert.Raw)] = true, true
		c := ctx
		c.Path = e.rolePath()
		if r.id == RoleAPIServer {
			c.APIServerAddresses = append(append([]string(nil), ctx.APIServerAddresses...), s.serversTrusting(e)...)
		}
		fs = append(fs, lintCert(cert, r, e.source, c)...)

		// The issuer.
		iss := s.issuerOf(e)
		selfSigned := isSelfSigned(cert)
		if !r.ca && !selfSigned && anyCA {
			want := s.expectedCA(e, r, cas)
			switch {
			case iss == nil && want != nil:
				fs = append(fs, finding(RuleWrongCA, e.source, "%s is not signed by %s (%s); issuer is %q", r.name, want.source, roles[want].name, formatName(cert.Issuer)))
			case iss == nil:
				fs = append(fs, finding(RuleWrongCA, e.source, "%s is signed by none of the CAs read; issuer is %q", r.name, formatName(cert.Issuer)))
			case want != nil && !s.chainsTo(iss, want):
				if e.kubeconfigUser != "" && want.kubeconfigCluster != "" && roles[iss].id == RoleClusterCA && !iss.embedded {
					// The client certificate is right: kube-apiserver's
					// --client-ca-file holds the cluster CA. The CA data
					// the client verifies the server with is wrong.
					if !wrongCAData[want] {
						wrongCAData[want] = true
						fs = append(fs, s.kubeconfigWrongCA(want, iss, roles))
					}
				} else if r.id == RoleFrontProxyClient && roles[iss].id == RoleClusterCA {
					fs = append(fs, finding(RuleFrontProxyCA, e.source, "front-proxy client certificate is signed by the cluster CA %s", iss.source))
				} else {
					fs = append(fs, finding(RuleWrongCA, e.source, "%s is signed by %s (%s), not by %s (%s)", r.name, iss.source, roles[iss].name, want.source, roles[want].name))
				}
			}
		}
		if iss != nil && !r.ca && cert.NotAfter.After(iss.obj.Certificate.NotAfter) {
			fs = append(fs, finding(RuleOutlivesCA, e.source, "valid until %s, after its CA %s expires on %s", cert.NotAfter.UTC().Format(time.RFC3339), iss.source, iss.obj.Certificate.NotAfter.UTC().Format(time.RFC3339)))
		}
		if iss != nil && cert.SerialNumber != nil {
			sk := string(iss.obj.Certificate.Raw) + "\x00" + cert.SerialNumber.String()
			if prev, ok := serials[sk]; ok && !prev.obj.Certificate.Equal(cert) {
				fs = append(fs, finding(RuleDuplicateSerial, e.source, "serial %s is also used by %s, both from CA %s", formatSerial(cert.SerialNumber), prev.source, iss.source))
			} else if !ok {
				serials[sk] = e
			}
		}

		// The key pair.
		if k := s.keyFor(e); k != nil && k.obj.PublicKey != nil && !publicKeysEqual(k.obj.PublicKey, cert.PublicKey) {
			fs = append(fs, finding(RuleKeyMismatch, e.source, "private key %s does not match the certificate's public key", k.source))
		}
		if e.userKey != nil && e.userKey.PublicKey != nil && !publicKeysEqual(e.userKey.PublicKey, cert.PublicKey) {
			fs = append(fs, finding(RuleKeyMismatch, e.source, "client key does not match the client certificate"))
		}
	}

	for _, e := range s.entries {
		switch {
		case e.context:
		case e.err != nil && errors.Is(e.err, ErrCSRObjectRequest):
			fs = append(fs, finding(RuleCSRObjectEncoding, e.source, "%v", e.err))
		case e.err != nil && !e.embedded:
			fs = append(fs, finding(RuleUnreadable, e.source, "%v", e.err))
		case e.err != nil && e.kubeconfigCluster != "":
			f := finding(RuleKubeconfigMissingFile, e.source, "%v", e.err)
			f.Fix = setClusterFix(e.path, e.kubeconfigCluster)
			fs = append(fs, f)
		case e.err != nil:
			f := finding(RuleKubeconfigMissingFile, e.source, "%v", e.err)
			f.Fix = setCredentialsFix(e.path, e.kubeconfigUser)
			fs = append(fs, f)
		case e.userKeyErr != nil:
			f := finding(RuleKubeconfigMissingFile, e.source, "%v", e.userKeyErr)
			f.Fix = setCredentialsFix(e.path, e.kubeconfigUser)
			fs = append(fs, f)
		case e.obj.Kind == KindPrivateKey:
			if e.hasMode && pki.OpenToOthers(e.mode) {
				fs = append(fs, finding(RuleKeyMode, e.source, "private key file mode is %s; want 0600", modeOctal(uint32(e.mode))))
			}
		case e.obj.Kind == KindCSR:
			fs = append(fs, lintCSR(e)...)
		case e.obj.Kind == KindKubeconfig:
			fs = append(fs, lintKubeconfig(e)...)
		case e.obj.Kind == KindCSRObject:
			fs = append(fs, lintCSRObject(e)...)
		}
	}
	fs = append(fs, s.publicKeyFindings()...)
	fs = append(fs, s.layoutFindings()...)
	sortFindings(fs)
	return fs
}

// publicKeyFindings reports the public key files that hold no public half
// of the private key their name pairs them with (sa.pub and sa.key, L43).
// A file of several public keys, as kube-apiserver's
// --service-account-key-file takes while keys rotate, is fine when one of
// them is the key's.
func (s *set) publicKeyFindings() []Finding {
	byPath := map[string][]*entry{}
	var paths []string
	for _, e := range s.entries {
		if e.context || e.embedded || e.err != nil || e.obj.Kind != KindPublicKey || e.obj.PublicKey == nil || e.path == "" {
			continue
		}
		if _, ok := byPath[e.path]; !ok {
			paths = append(paths, e.path)
		}
		byPath[e.path] = append(byPath[e.path], e)
	}
	var out []Finding
	for _, p := range paths {
		pubs := byPath[p]
		k := s.keyFor(pubs[0])
		if k == nil || k.obj.PublicKey == nil {
			continue
		}
		if slices.ContainsFunc(pubs, func(e *entry) bool { return publicKeysEqual(e.obj.PublicKey, k.obj.PublicKey) }) {
			continue
		}
		msg := fmt.Sprintf("public key %s is not the public half of private key %s", p, k.source)
		if fileKey(p) == "sa.pub" {
			msg += ": kube-apiserver verifies service-account tokens with the one while they are signed with the other, and rejects every token (every pod gets 401)"
		}
		out = append(out, finding(RulePublicKeyMismatch, p, "%s", msg))
	}
	return out
}

// kubeconfigWrongCA returns the L47 finding for the kubeconfig cluster
// entry want, whose CA did not sign its user's client certificate while
// the cluster CA file iss did, with a fix naming the files.
func (s *set) kubeconfigWrongCA(want, iss *entry, roles map[*entry]role) Finding {
	what := fmt.Sprintf("CA %q", formatName(want.obj.Certificate.Subject))
	for _, c := range s.entries {
		if !c.embedded && c.err == nil && c.obj.Kind == KindCertificate && roles[c].ca && c.obj.Certificate.Equal(want.obj.Certificate) {
			what = fmt.Sprintf("%s (%s)", c.source, roles[c].name)
			break
		}
	}
	f := finding(RuleKubeconfigWrongCA, want.source, "certificate-authority of cluster %s is %s, not the cluster CA %s that signed the client certificate; the client cannot verify kube-apiserver", want.kubeconfigCluster, what, iss.source)
	f.Fix = fmt.Sprintf("kubectl --kubeconfig %s config set-cluster %s --certificate-authority %s --embed-certs", want.path, quoteIfNeeded(want.kubeconfigCluster), iss.path)
	if name := filepath.Base(want.path); slices.Contains(renewedKubeconfigs, name) {
		cmd := "kubepki certs renew " + name
		if d := filepath.Dir(iss.path); d != defaultCertDir {
			cmd += " --cert-dir " + d
		}
		if d := filepath.Dir(want.path); d != defaultKubeconfigDir {
			cmd += " --kubeconfig-dir " + d
		}
		f.Fix = cmd + " rewrites the CA data with the client certificate; or " + f.Fix
	}
	return f
}

// kubeadm's default folders, which "kubepki certs renew" assumes.
const (
	defaultCertDir       = "/etc/kubernetes/pki"
	defaultKubeconfigDir = "/etc/kubernetes"
)

// renewedKubeconfigs are the kubeconfig files "kubepki certs renew" (like
// kubeadm's) rewrites, CA data included; the kubelet rotates its own.
var renewedKubeconfigs = []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"}

// setClusterFix is the L32 fix for the CA file of a kubeconfig cluster.
func setClusterFix(kubeconfig, cluster string) string {
	return fmt.Sprintf("fix the path (relative paths resolve from the kubeconfig's folder), or embed the CA: kubepki config --kubeconfig %s set-cluster %s --certificate-authority FILE --embed-certs", kubeconfig, quoteIfNeeded(cluster))
}

// setCredentialsFix is the L32 fix for the files of a kubeconfig user.
func setCredentialsFix(kubeconfig, user string) string {
	return fmt.Sprintf("fix the path (relative paths resolve from the kubeconfig's folder), or embed the files: kubepki config --kubeconfig %s set-credentials %s --client-certificate FILE --client-key FILE --embed-certs", kubeconfig, quoteIfNeeded(user))
}

// layoutFindings reports the files whose name says what they hold and
// which parse but hold something else (L00: a key in apiserver.crt), and,
// among the files of directory walks, the halves of kubeadm's pairs whose
// other half is missing (L42), under the missing file's path.
func (s *set) layoutFindings() []Finding {
	var out []Finding
	held := map[string][]Object{}
	var paths []string
	broken := map[string]bool{}
	for _, e := range s.entries {
		if e.context || e.embedded || e.path == "" {
			continue
		}
		if _, ok := held[e.path]; !ok && !broken[e.path] {
			paths = append(paths, e.path)
		}
		if e.err != nil {
			broken[e.path] = true // already an L00 of its own
			continue
		}
		held[e.path] = append(held[e.path], e.obj)
	}
	for _, p := range paths {
		want := expectedKind(p)
		objs := held[p]
		if want == "" || broken[p] || slices.ContainsFunc(objs, func(o Object) bool { return o.Kind == want }) {
			continue
		}
		var kinds []string
		for _, o := range objs {
			k := kindNames[o.Kind]
			if o.PEMType != "" {
				k += fmt.Sprintf(" (PEM %q)", o.PEMType)
			}
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
		out = append(out, finding(RuleUnreadable, p, "holds %s, not %s: a %s file must hold %s", strings.Join(kinds, " and "), kindNames[want], filepath.Ext(p), kindNames[want]))
	}
	reported := map[string]bool{}
	for _, w := range s.walked {
		partner, holds, ok := partnerOf(w)
		if !ok || reported[partner] {
			continue
		}
		if _, err := os.Lstat(partner); errors.Is(err, fs.ErrNotExist) {
			reported[partner] = true
			out = append(out, finding(RuleMissingPair, partner, "missing, while its %s %s is present", holds, w))
		}
	}
	return out
}

// expectedCA returns the CA entry e's role requires: for a kubeconfig
// user, the CA of the cluster its contexts use; otherwise the CA of the
// role's issuer role, if read.
func (s *set) expectedCA(e *entry, r role, cas map[string]*entry) *entry {
	if e.kubeconfigUser != "" {
		if cfg := s.kubeconfigOf(e); cfg != nil {
			for _, name := range sortedKeys(cfg.Contexts) {
				kctx := cfg.Contexts[name]
				if kctx.AuthInfo != e.kubeconfigUser {
					continue
				}
				for _, c := range s.entries {
					if c.path == e.path && c.kubeconfigCluster == kctx.Cluster && c.err == nil {
						return c
					}
				}
			}
		}
	}
	if r.issuer == "" {
		return nil
	}
	return cas[r.issuer]
}

// serversTrusting returns the server URLs of kubeconfig clusters whose CA
// signed the kube-apiserver certificate e: those clients dial it (L15).
func (s *set) serversTrusting(e *entry) []string {
	iss := s.issuerOf(e)
	if iss == nil {
		return nil
	}
	var out []string
	for _, c := range s.entries {
		if c.err != nil || c.kubeconfigCluster == "" || !c.obj.Certificate.Equal(iss.obj.Certificate) {
			continue
		}
		if cfg := s.kubeconfigOf(c); cfg != nil {
			if cl, ok := cfg.Clusters[c.kubeconfigCluster]; ok && cl.Server != "" {
				out = append(out, cl.Server)
			}
		}
	}
	return out
}

// lintCSR applies the rules for certificate request files.
func lintCSR(e *entry) []Finding {
	csr := e.obj.CSR
	var fs []Finding
	if e.obj.PEMType != "" && e.obj.PEMType != "CERTIFICATE REQUEST" {
		fs = append(fs, finding(RuleCSRPEMType, e.source, "PEM block type is %q", e.obj.PEMType))
	}
	r := classifyCSR(csr, e.path)
	if r.id == RoleKubeletClient || r.id == RoleKubeletServing {
		fs = append(fs, lintNodeIdentity(csr.Subject.CommonName, csr.Subject.Organization, e.source, "")...)
	}
	for _, err := range certificates.NameProblems(csr) {
		fs = append(fs, finding(RuleCSRSubject, e.source, "%v", err))
	}
	if weakSignature(csr.SignatureAlgorithm) {
		fs = append(fs, finding(RuleWeakCrypto, e.source, "signature algorithm %s", csr.SignatureAlgorithm))
	}
	if k := describeKey(csr.PublicKey); k.Algorithm == "RSA" && k.Bits < 2048 {
		fs = append(fs, finding(RuleWeakCrypto, e.source, "RSA key of %d bits", k.Bits))
	}
	if csr.PublicKeyAlgorithm == x509.DSA {
		fs = append(fs, finding(RuleWeakCrypto, e.source, "DSA key"))
	}
	return fs
}

// lintKubeconfig applies the rules for kubeconfig files themselves.
func lintKubeconfig(e *entry) []Finding {
	cfg := e.obj.Kubeconfig
	var fs []Finding
	base := filepath.Dir(e.path)
	holdsKey := false
	for _, name := range sortedKeys(cfg.Clusters) {
		c := cfg.Clusters[name]
		// client-go's validation, which kubectl runs before it uses a
		// context, refuses both (tools/clientcmd/validation.go).
		if c.CertificateAuthority != "" && len(c.CertificateAuthorityData) > 0 {
			f := finding(RuleKubeconfigBoth, e.source, "cluster %s has certificate-authority %s and certificate-authority-data; kubectl refuses it: certificate-authority-data and certificate-authority are both specified", name, c.CertificateAuthority)
			f.Fix = fmt.Sprintf("keep one: delete the certificate-authority line of cluster %s to keep the data, or embed the file instead: kubepki config --kubeconfig %s set-cluster %s --certificate-authority %s --embed-certs", name, e.path, quoteIfNeeded(name), c.CertificateAuthority)
			fs = append(fs, f)
		}
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		u := cfg.AuthInfos[name]
		bothFix := func(field, flag, file string) string {
			return fmt.Sprintf("keep one: delete the %s line of user %s to keep the data, or embed the file instead: kubepki config --kubeconfig %s set-credentials %s --%s %s --embed-certs", field, name, e.path, quoteIfNeeded(name), flag, file)
		}
		if u.ClientCertificate != "" && len(u.ClientCertificateData) > 0 {
			f := finding(RuleKubeconfigBoth, e.source, "user %s has client-certificate %s and client-certificate-data; kubectl refuses it: client-cert-data and client-cert are both specified", name, u.ClientCertificate)
			f.Fix = bothFix("client-certificate", "client-certificate", u.ClientCertificate)
			fs = append(fs, f)
		}
		if u.ClientKey != "" && len(u.ClientKeyData) > 0 {
			f := finding(RuleKubeconfigBoth, e.source, "user %s has client-key %s and client-key-data; kubectl refuses it: client-key-data and client-key are both specified", name, u.ClientKey)
			f.Fix = bothFix("client-key", "client-key", u.ClientKey)
			fs = append(fs, f)
		}
		if len(u.ClientKeyData) > 0 {
			holdsKey = true
		}
		if u.ClientKey != "" && len(u.ClientKeyData) == 0 {
			p := u.ClientKey
			if !filepath.IsAbs(p) {
				p = filepath.Join(base, p)
			}
			if _, err := os.Stat(p); err != nil && len(u.ClientCertificateData) == 0 && u.ClientCertificate == "" {
				f := finding(RuleKubeconfigMissingFile, e.source, "user %s: client-key %s: %v", name, p, err)
				f.Fix = setCredentialsFix(e.path, name)
				fs = append(fs, f)
			}
		}
	}
	if holdsKey && e.hasMode && pki.OpenToOthers(e.mode) {
		fs = append(fs, finding(RuleKeyMode, e.source, "kubeconfig holding a private key has mode %s; want 0600", modeOctal(uint32(e.mode))))
	}
	return fs
}

// maxChain bounds the intermediates [set.chainsTo] follows.
const maxChain = 8

// chainsTo reports whether iss is want, or is signed, through at most
// maxChain intermediates among the files read, by want.
func (s *set) chainsTo(iss, want *entry) bool {
	for range maxChain {
		if iss == nil {
			return false
		}
		if iss.obj.Certificate.Equal(want.obj.Certificate) {
			return true
		}
		if isSelfSigned(iss.obj.Certificate) {
			return false
		}
		iss = s.issuerOf(iss)
	}
	return false
}

// isLeafRole reports whether id is the role of a kubeadm leaf or a kubelet.
func isLeafRole(id string) bool {
	_, ok := leafRoles[id]
	return ok || id == RoleKubeletClient || id == RoleKubeletServing
}
