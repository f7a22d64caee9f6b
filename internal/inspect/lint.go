package inspect

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of a kubeadm cluster that lint checks against (kubernetes-pki.md §1.1).
const (
	DefaultDNSDomain   = "cluster.local"
	DefaultServiceCIDR = "10.96.0.0/12"
	// DefaultWarnWithin is how close to expiry a certificate draws a
	// warning: kubeadm's check-expiration and kubelet rotation start
	// worrying in the last month.
	DefaultWarnWithin = 30 * 24 * time.Hour
)

// minSerialBits is the serial bit length under which L30 reports little
// entropy. kubeadm's 63-bit random serials fall under it with probability
// 2^-23; openssl -set_serial 01 always does.
const minSerialBits = 40

// Finding is one problem found by lint.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Source is the file (or file#users/NAME inside a kubeconfig) at fault.
	Source string `json:"source"`
	// Message says what is wrong with this file, specifically.
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Context is what [LintCertificate] knows beyond the certificate itself.
// The zero value lints against kubeadm's defaults with no CA known.
type Context struct {
	// Now is the time of the check; zero means time.Now.
	Now time.Time
	// WarnWithin draws L36 for certificates expiring sooner; zero means
	// [DefaultWarnWithin], negative disables it.
	WarnWithin time.Duration
	// Path is the certificate's file name, which decides its role for
	// kubeadm's file names (apiserver.crt, etcd/server.crt, …).
	Path string
	// Role forces the role ID (one of the Role* constants) instead of
	// reading it from Path and the certificate.
	Role string
	// DNSDomain is the cluster DNS domain; "" means [DefaultDNSDomain].
	DNSDomain string
	// ServiceCIDR is the service subnet (the first of a comma-separated
	// list is used); "" means [DefaultServiceCIDR].
	ServiceCIDR string
	// APIServerAddresses are hosts (IP or DNS name, optionally with a port)
	// the kube-apiserver certificate must be valid for: the advertise
	// address, the control-plane endpoint.
	APIServerAddresses []string
	// AdvertiseAddress is kube-apiserver's advertise address, which its
	// certificate must be valid for too; [InspectManifest] takes the
	// manifest's --advertise-address when it is "".
	AdvertiseAddress string
	// NodeName is the expected node name of a kubelet certificate; "" skips L03.
	NodeName string
	// CA is the certificate of the CA that should have signed the
	// certificate; nil skips L21 and L37.
	CA *x509.Certificate
}

func (c Context) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

// finding builds a finding of rule id for source.
func finding(id, source, format string, args ...any) Finding {
	r := ruleByID(id)
	return Finding{Rule: id, Severity: r.Severity, Source: source, Message: fmt.Sprintf(format, args...), Fix: r.Fix}
}

// LintCertificate checks one certificate, or one prepared but not yet
// signed (pki.CA.Prepare, before issuance), against the rules that need no
// other file: identity (L01–L03, L13, L33), usages (L04, L19), names
// (L14–L18), constraints (L20, L23–L25, L40), validity (L27, L36), crypto
// (L29), serial (L30) and, when ctx.CA is set, the issuer (L21, L37).
// Findings are in rule order; an empty result means the certificate is clean.
func LintCertificate(cert *x509.Certificate, ctx Context) []Finding {
	source := ctx.Path
	if source == "" {
		source = cert.Subject.CommonName
	}
	r := classify(cert, ctx.Path)
	if ctx.Role != "" {
		r = roleByID(ctx.Role, r)
	}
	fs := lintCert(cert, r, source, ctx)
	if ctx.CA != nil && !r.ca {
		if err := checkSignature(cert, ctx.CA); err != nil && !isSelfSigned(cert) {
			fs = append(fs, finding(RuleWrongCA, source, "not signed by the CA %q: %v", ctx.CA.Subject.CommonName, err))
		}
		if cert.NotAfter.After(ctx.CA.NotAfter) {
			fs = append(fs, finding(RuleOutlivesCA, source, "valid until %s, after its CA expires on %s", cert.NotAfter.UTC().Format(time.RFC3339), ctx.CA.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	sortFindings(fs)
	return fs
}

// roleByID returns the role with id, keeping the node name of read.
func roleByID(id string, read role) role {
	if r, ok := leafRoles[id]; ok {
		return r
	}
	if r, ok := caRoles[id]; ok {
		return r
	}
	switch id {
	case RoleKubeletClient:
		return role{id: id, name: "kubelet client certificate for node " + read.node, node: read.node, client: true, issuer: RoleClusterCA}
	case RoleKubeletServing:
		return role{id: id, name: "kubelet serving certificate for node " + read.node, node: read.node, server: true, issuer: RoleClusterCA}
	case RoleUser:
		return role{id: id, name: "client certificate", client: true, issuer: RoleClusterCA}
	case RoleServing:
		return role{id: id, name: "serving certificate", server: true}
	}
	return read
}

// lintCert applies the single-certificate rules.
func lintCert(cert *x509.Certificate, r role, source string, ctx Context) []Finding {
	var fs []Finding
	add := func(id, format string, args ...any) { fs = append(fs, finding(id, source, format, args...)) }
	cn := cert.Subject.CommonName
	groups := cert.Subject.Organization
	selfSigned := isSelfSigned(cert)

	// Identity.
	if r.id == RoleKubeletClient || r.id == RoleKubeletServing {
		fs = append(fs, lintNodeIdentity(cn, groups, source, ctx.NodeName)...)
	}
	if slices.Contains(groups, mastersGroup) && r.id != RoleSuperAdmin && !r.ca {
		add(RuleMasters, "group system:masters in %s", r.name)
	}
	if r.id == RoleAPIServerKubeletClient && !slices.Contains(groups, "kubeadm:cluster-admins") && !slices.Contains(groups, mastersGroup) {
		add(RuleKubeletClientGroup, "organizations %q include neither kubeadm:cluster-admins nor system:masters", groups)
	}

	// Usages.
	hasServer := slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny)
	hasClient := slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny)
	ekuSet := len(cert.ExtKeyUsage) > 0 || len(cert.UnknownExtKeyUsage) > 0
	switch {
	case r.ca:
	case r.server && r.client: // etcd server and peer
		if !hasServer || !hasClient {
			add(RuleEtcdUsages, "extended key usages are %s; etcd needs server auth and client auth", usageList(cert))
		}
	case r.client:
		if slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
			add(RuleUsageRole, "%s has server auth (usages: %s); use client auth only", r.name, usageList(cert))
		} else if ekuSet && !hasClient {
			add(RuleUsageRole, "%s lacks client auth (usages: %s); kube-apiserver refuses it", r.name, usageList(cert))
		}
	case r.server:
		if ekuSet && !hasServer {
			add(RuleUsageRole, "%s lacks server auth (usages: %s)", r.name, usageList(cert))
		}
	}

	// Names.
	if r.server && len(cert.DNSNames) == 0 && len(cert.IPAddresses) == 0 {
		add(RuleNoSANs, "%s has no DNS or IP SAN (common name %q is ignored for host names)", r.name, cn)
	}
	for _, name := range cert.DNSNames {
		if net.ParseIP(name) != nil {
			add(RuleIPInDNS, "DNS SAN %q is an IP address; use IP:%s", name, name)
		} else if why := dnsNameProblem(name); why != "" {
			add(RuleDNSName, "DNS SAN %q is not a valid DNS name: %s", name, why)
		}
	}
	if r.id == RoleAPIServer {
		if missing := missingAPIServerNames(cert, ctx); len(missing) > 0 {
			add(RuleAPIServerDefaultNames, "kube-apiserver certificate lacks %s", strings.Join(missing, ", "))
		}
		for _, host := range append(slices.Clone(ctx.APIServerAddresses), ctx.AdvertiseAddress) {
			if h := hostOf(host); h != "" && cert.VerifyHostname(h) != nil {
				add(RuleAPIServerAddress, "kube-apiserver certificate is not valid for %s", h)
			}
		}
	}
	if r.id == RoleEtcdServer {
		var missing []string
		if !slices.Contains(cert.DNSNames, "localhost") {
			missing = append(missing, "DNS:localhost")
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
			missing = append(missing, "IP:127.0.0.1")
		}
		if len(missing) > 0 {
			add(RuleEtcdLocal, "etcd server certificate lacks %s", strings.Join(missing, ", "))
		}
	}

	// Constraints.
	switch {
	case r.ca:
		if !cert.BasicConstraintsValid || !cert.IsCA {
			add(RuleCANotCA, "%s has no basic constraints CA:TRUE", r.name)
		}
		if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			add(RuleCANotCA, "%s key usage (%s) lacks Certificate Sign", r.name, strings.Join(keyUsageNames(cert.KeyUsage), ", "))
		}
		if cert.KeyUsage == 0 && cert.BasicConstraintsValid && cert.IsCA {
			add(RuleCANoKeyUsage, "%s has no key usage extension", r.name)
		}
	case selfSigned && !cert.IsCA:
		add(RuleSelfSignedLeaf, "%s is self-signed (issuer %q = subject)", r.name, formatName(cert.Issuer))
	case cert.IsCA && !selfSigned:
		add(RuleLeafIsCA, "%s has basic constraints CA:TRUE", r.name)
	case cert.IsCA && isLeafRole(r.id):
		// A CA at a kubeadm leaf's path (cp ca.crt apiserver.crt): the
		// component presents a CA as its own certificate.
		add(RuleLeafIsCA, "%s holds a self-signed CA certificate (%q, CA:TRUE)", r.name, formatName(cert.Subject))
	case !cert.BasicConstraintsValid:
		add(RuleLeafNoConstraints, "%s (X.509 v%d) has no basic constraints extension", r.name, cert.Version)
	}

	// Key type. RFC 8410 §5: an Ed25519 key only signs.
	if cert.PublicKeyAlgorithm == x509.Ed25519 {
		if r.ca {
			add(RuleEd25519CA, "%s has an Ed25519 key", r.name)
		}
		if bad := cert.KeyUsage &^ ed25519KeyUsages; bad != 0 {
			add(RuleKeyUsageForKey, "%s has an Ed25519 key and key usage %s, which only keys that encrypt or agree keys may have", r.name, strings.Join(keyUsageNames(bad), ", "))
		}
	}

	// Validity.
	now := ctx.now()
	switch {
	case now.After(cert.NotAfter):
		add(RuleValidity, "expired on %s (%s ago)", cert.NotAfter.UTC().Format(time.RFC3339), formatDuration(now.Sub(cert.NotAfter)))
	case now.Before(cert.NotBefore):
		add(RuleValidity, "not valid before %s (in %s)", cert.NotBefore.UTC().Format(time.RFC3339), formatDuration(cert.NotBefore.Sub(now)))
	default:
		within := ctx.WarnWithin
		if within == 0 {
			within = DefaultWarnWithin
		}
		if within > 0 && cert.NotAfter.Sub(now) < within {
			add(RuleExpiringSoon, "expires on %s, in %s", cert.NotAfter.UTC().Format(time.RFC3339), formatDuration(cert.NotAfter.Sub(now)))
		}
	}

	// Crypto.
	if weakSignature(cert.SignatureAlgorithm) {
		add(RuleWeakCrypto, "signature algorithm %s", cert.SignatureAlgorithm)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && pub.N.BitLen() < 2048 {
		add(RuleWeakCrypto, "RSA key of %d bits", pub.N.BitLen())
	}
	if cert.PublicKeyAlgorithm == x509.DSA {
		add(RuleWeakCrypto, "DSA key")
	}

	// Serial (RFC 5280 §4.1.2.2).
	switch sn := cert.SerialNumber; {
	case sn == nil || sn.Sign() <= 0:
		add(RuleSerial, "serial number %s is not positive", sn)
	case len(sn.Bytes()) > 20:
		add(RuleSerial, "serial number is %d octets, over 20", len(sn.Bytes()))
	case sn.BitLen() < minSerialBits:
		add(RuleSerial, "serial number %s has only %d bits", sn, sn.BitLen())
	}
	return fs
}

// ed25519KeyUsages are the key usages RFC 8410 §5 allows with an Ed25519
// key. ECDSA keys are not held to RFC 5480's list: kubeadm sets key
// encipherment on every leaf and CA whatever the key (kubernetes-pki.md
// §1.2, §1.3), and Go and OpenSSL ignore it there.
const ed25519KeyUsages = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageCertSign | x509.KeyUsageCRLSign

// dnsNameProblem returns why name is not a valid DNS name in a SAN, or ""
// (RFC 5280 §4.2.1.6: the preferred name syntax of RFC 1034 §3.5, with
// RFC 1123's leading digits): dot-separated labels of letters, digits and
// hyphens, neither starting nor ending with a hyphen, at most 63 bytes
// each and 253 in all, no empty label and no trailing dot. A wildcard is
// allowed as the whole leftmost label ("*.example.org"). Underscores are
// allowed, a deliberate leniency: service labels such as _dmarc appear in
// real certificates, and Go's host name matching accepts them.
func dnsNameProblem(name string) string {
	if name == "" {
		return "it is empty"
	}
	if len(name) > 253 {
		return fmt.Sprintf("it is %d bytes long, at most 253", len(name))
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		switch {
		case l == "" && i == len(labels)-1:
			return "it ends with a dot"
		case l == "":
			return "it has an empty label"
		case l == "*" && i == 0 && len(labels) > 1:
			continue
		case len(l) > 63:
			return fmt.Sprintf("label %q is %d bytes long, at most 63", l, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with a hyphen", l)
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				switch {
				case c == '*':
					return "a wildcard may only be the whole leftmost label"
				case c >= utf8.RuneSelf:
					return "it holds non-ASCII characters (an internationalized name goes in its xn-- form)"
				}
				return fmt.Sprintf("%q is not a letter, digit or hyphen", string(rune(c)))
			}
		}
	}
	return ""
}

// lintNodeIdentity applies L01–L03 (kubernetes-pki.md §5.3).
func lintNodeIdentity(cn string, groups []string, source, nodeName string) []Finding {
	var fs []Finding
	if !strings.HasPrefix(cn, nodeUserPrefix) {
		fs = append(fs, finding(RuleNodeName, source, "common name %q does not start with the lower-case %q", cn, nodeUserPrefix))
	} else {
		node := cn[len(nodeUserPrefix):]
		if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
			fs = append(fs, finding(RuleNodeName, source, "node name %q in common name %q is not a lower-case DNS-1123 subdomain", node, cn))
		} else if nodeName != "" && node != nodeName {
			fs = append(fs, finding(RuleNodeMismatch, source, "node name %q, want %q", node, nodeName))
		}
	}
	if len(groups) != 1 || groups[0] != nodesGroup {
		fs = append(fs, finding(RuleNodeGroup, source, "organizations %q, want exactly [%s]", groups, nodesGroup))
	}
	return fs
}

func usageList(cert *x509.Certificate) string {
	names := extKeyUsageNames(cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func weakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// missingAPIServerNames lists the default names of kubernetes-pki.md §1.4
// that cert lacks.
func missingAPIServerNames(cert *x509.Certificate, ctx Context) []string {
	domain := ctx.DNSDomain
	if domain == "" {
		domain = DefaultDNSDomain
	}
	var missing []string
	for _, name := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain} {
		if !slices.Contains(cert.DNSNames, name) {
			missing = append(missing, "DNS:"+name)
		}
	}
	if ip, ok := firstServiceIP(ctx.ServiceCIDR); ok {
		if !slices.ContainsFunc(cert.IPAddresses, func(a net.IP) bool { return a.Equal(net.IP(ip.AsSlice())) }) {
			missing = append(missing, "IP:"+ip.String())
		}
	}
	return missing
}

// firstServiceIP returns the first usable address of the first CIDR in a
// comma-separated list, as kubeadm computes the kubernetes service IP.
func firstServiceIP(cidrs string) (netip.Addr, bool) {
	if cidrs == "" {
		cidrs = DefaultServiceCIDR
	}
	first, _, _ := strings.Cut(cidrs, ",")
	p, err := netip.ParsePrefix(strings.TrimSpace(first))
	if err != nil {
		return netip.Addr{}, false
	}
	return p.Masked().Addr().Next(), true
}

// hostOf returns the host of an address given as a URL, host:port or host.
func hostOf(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return strings.Trim(s, "[]")
}

// sortFindings orders findings by source, then rule.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
}
