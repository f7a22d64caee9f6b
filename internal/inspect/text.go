package inspect

import (
	"crypto/x509"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// escape replaces control characters (C0, DEL, C1, and Unicode format
// characters such as bidirectional overrides) with Go escapes, and invalid
// UTF-8 with \x escapes, so that text output never carries terminal control
// sequences from an input file (security.md §4).
func escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func escapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escape(s)
	}
	return out
}

// textWriter writes "label: value" lines at an indent, remembering the
// first write error.
type textWriter struct {
	w      io.Writer
	indent string
	err    error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, t.indent+format+"\n", args...)
}

// field writes a label and an already escaped value; empty values are
// skipped.
func (t *textWriter) field(label, value string) {
	if value == "" {
		return
	}
	t.line("%-19s %s", label+":", value)
}

func (t *textWriter) nested() *textWriter {
	return &textWriter{w: t.w, indent: t.indent + "  "}
}

func (t *textWriter) join(sub *textWriter) {
	if t.err == nil {
		t.err = sub.err
	}
}

const timeLayout = "2006-01-02 15:04:05 MST"

// WriteText writes r in kubepki's compact human layout: per object, what
// openssl x509 -text shows, then the Kubernetes reading. Every value from
// an input file is escaped.
func (r *Report) WriteText(w io.Writer) error {
	t := &textWriter{w: w}
	if m := r.Manifest; m != nil {
		t.line("%s: %s", escape(m.Source), m.Kind)
		t.field("  Component", escape(m.Component))
		t.line("")
	}
	for i, it := range r.Items {
		if i > 0 {
			t.line("")
		}
		writeItem(t, it)
	}
	if r.Manifest != nil {
		t.line("")
		writeFindings(t, r.Findings)
	}
	return t.err
}

func writeItem(t *textWriter, it Item) {
	head := escape(it.Source)
	if it.Reference != "" {
		head = escape(it.Reference) + " " + head
	}
	if it.Error != "" {
		t.line("%s: error: %s", head, escape(it.Error))
		return
	}
	sub := t.nested()
	switch {
	case it.Certificate != nil:
		t.line("%s: certificate", head)
		writeCertificate(sub, it.Certificate)
	case it.CSR != nil:
		t.line("%s: certificate request", head)
		writeCSR(sub, it.CSR)
	case it.Key != nil:
		kind := "public key"
		if it.Key.Private {
			kind = "private key"
		}
		t.line("%s: %s", head, kind)
		writeKey(sub, it.Key)
	case it.Kubeconfig != nil:
		t.line("%s: kubeconfig", head)
		writeKubeconfig(sub, it.Kubeconfig)
	case it.CSRObject != nil:
		t.line("%s: CertificateSigningRequest %s", head, escape(it.CSRObject.Name))
		writeCSRObject(sub, it.CSRObject)
	}
	t.join(sub)
}

func writeCertificate(t *textWriter, c *Certificate) {
	t.field("Subject", escape(c.Subject))
	issuer := escape(c.Issuer)
	if c.SelfSigned {
		issuer += " (self-signed)"
	}
	t.field("Issuer", issuer)
	t.field("Serial", c.Serial)
	left := c.TimeLeft
	if c.Status == "valid" {
		left = "valid, " + left + " left"
	}
	t.field("Validity", fmt.Sprintf("%s to %s (%s)", c.NotBefore.Format(timeLayout), c.NotAfter.Format(timeLayout), left))
	t.field("Public key", keyString(c.PublicKey))
	t.field("Signature", c.SignatureAlgorithm)
	switch bc := c.BasicConstraints; {
	case bc == nil && c.Version < 3:
		t.field("Basic constraints", fmt.Sprintf("none (X.509 v%d)", c.Version))
	case bc == nil:
		t.field("Basic constraints", "none")
	default:
		v := "CA:FALSE"
		if bc.CA {
			v = "CA:TRUE"
		}
		if bc.MaxPathLen != nil {
			v += fmt.Sprintf(", pathlen:%d", *bc.MaxPathLen)
		}
		t.field("Basic constraints", v+critical(bc.Critical))
	}
	if len(c.KeyUsage) > 0 {
		t.field("Key usage", strings.Join(c.KeyUsage, ", ")+critical(c.KeyUsageCritical))
	}
	t.field("Ext key usage", strings.Join(c.ExtKeyUsage, ", "))
	t.field("SANs", sanList(c.DNSNames, c.IPAddresses, c.URIs, c.EmailAddresses))
	t.field("Subject key ID", c.SubjectKeyID)
	t.field("Authority key ID", c.AuthorityKeyID)
	t.field("Other extensions", strings.Join(c.OtherExtensions, ", "))
	t.field("SHA-256", c.SHA256)
	t.field("Role", escape(c.Role))
	if !strings.HasSuffix(c.RoleID, "ca") && authenticatesClients(c.ExtKeyUsage) {
		t.field("Identity", identityString(c.Identity))
	}
	signed := escape(c.SignedBy)
	if signed == "" && !c.SelfSigned {
		signed = "no CA among the files read"
	}
	if !c.SelfSigned {
		t.field("Signed by", signed)
	}
}

func critical(b bool) string {
	if b {
		return " (critical)"
	}
	return ""
}

func sanList(dns, ips, uris, emails []string) string {
	var parts []string
	for _, d := range dns {
		parts = append(parts, "DNS:"+escape(d))
	}
	for _, ip := range ips {
		parts = append(parts, "IP:"+ip)
	}
	for _, u := range uris {
		parts = append(parts, "URI:"+escape(u))
	}
	for _, e := range emails {
		parts = append(parts, "email:"+escape(e))
	}
	return strings.Join(parts, ", ")
}

// authenticatesClients reports whether a certificate with the extended key
// usages named ekus can authenticate as a client: kube-apiserver's x509
// authenticator verifies for client auth, which a certificate with no
// extended key usage, or with "any", also passes (crypto/x509 VerifyOptions).
// Such a certificate has an identity; a serving-only one (apiserver.crt, a
// kubelet serving certificate) has none.
func authenticatesClients(ekus []string) bool {
	return len(ekus) == 0 || slices.Contains(ekus, extKeyUsageName[x509.ExtKeyUsageClientAuth]) || slices.Contains(ekus, extKeyUsageName[x509.ExtKeyUsageAny])
}

func identityString(id Identity) string {
	s := "user " + quoteIfNeeded(escape(id.User))
	if len(id.Groups) > 0 {
		s += ", groups " + strings.Join(escapeAll(id.Groups), ", ")
	}
	return s
}

func writeCSR(t *textWriter, c *CSR) {
	t.field("Subject", escape(c.Subject))
	if c.PEMType != "" && c.PEMType != "CERTIFICATE REQUEST" {
		t.field("PEM type", escape(c.PEMType))
	}
	t.field("Public key", keyString(c.PublicKey))
	sig := c.SignatureAlgorithm + ", valid"
	if !c.SignatureValid {
		sig = c.SignatureAlgorithm + ", INVALID"
	}
	t.field("Signature", sig)
	t.field("SANs", sanList(c.DNSNames, c.IPAddresses, c.URIs, c.EmailAddresses))
	t.field("Role", escape(c.Role))
	t.field("Identity", identityString(c.Identity))
}

func writeKey(t *textWriter, k *Key) {
	v := keyString(*k)
	if k.Format != "" {
		v += ", " + k.Format
	}
	if k.Encrypted {
		v += ", encrypted"
	}
	t.field("Key", v)
	t.field("Mode", k.Mode)
	t.field("Public key SHA-256", k.SHA256)
	if k.Private || k.Matches != "" {
		m := escape(k.Matches)
		if m == "" {
			m = "no certificate among the files read"
		}
		t.field("Certificate", m)
	}
}

func writeKubeconfig(t *textWriter, k *Kubeconfig) {
	t.field("Current context", escape(k.CurrentContext))
	for _, c := range k.Contexts {
		v := "cluster " + escape(c.Cluster) + ", user " + escape(c.User)
		if c.Namespace != "" {
			v += ", namespace " + escape(c.Namespace)
		}
		t.field("Context "+escape(c.Name), v)
	}
	for _, c := range k.Clusters {
		t.line("Cluster %s: %s", escape(c.Name), escape(c.Server))
		sub := t.nested()
		switch {
		case c.CAFile != "" && c.CAData:
			sub.field("CA", "certificate-authority "+escape(c.CAFile)+" and certificate-authority-data (data wins)")
		case c.CAFile != "":
			sub.field("CA", "certificate-authority "+escape(c.CAFile))
		case c.CAData:
			sub.field("CA", "certificate-authority-data")
		case c.InsecureSkipVerify:
			sub.field("CA", "none: insecure-skip-tls-verify")
		default:
			sub.field("CA", "none: the system roots")
		}
		sub.field("Error", escape(c.Error))
		for i := range c.CA {
			sub.line("CA certificate:")
			cs := sub.nested()
			writeCertificate(cs, &c.CA[i])
			sub.join(cs)
		}
		t.join(sub)
	}
	for _, u := range k.Users {
		auth := strings.Join(u.Auth, ", ")
		if auth == "" {
			auth = "no credentials"
		}
		t.line("User %s: %s", escape(u.Name), auth)
		sub := t.nested()
		sub.field("Error", escape(u.Error))
		if u.Certificate != nil {
			sub.line("Client certificate:")
			cs := sub.nested()
			writeCertificate(cs, u.Certificate)
			sub.join(cs)
		}
		if u.Key != nil {
			v := keyString(*u.Key) + ", " + u.Key.Format
			if u.KeyMatches != nil {
				if *u.KeyMatches {
					v += ", matches the client certificate"
				} else {
					v += ", DOES NOT match the client certificate"
				}
			}
			sub.field("Client key", v)
		}
		t.join(sub)
	}
}

func writeCSRObject(t *textWriter, c *CSRObject) {
	t.field("Signer", escape(c.SignerName))
	t.field("Usages", strings.Join(escapeAll(c.Usages), ", "))
	if c.ExpirationSeconds != nil {
		t.field("Expiration", fmt.Sprintf("%ds", *c.ExpirationSeconds))
	}
	t.field("Condition", escape(c.Condition))
	t.field("Error", escape(c.Error))
	if c.Request != nil {
		t.line("Request:")
		sub := t.nested()
		writeCSR(sub, c.Request)
		t.join(sub)
	}
	if c.Certificate != nil {
		t.line("Certificate:")
		sub := t.nested()
		writeCertificate(sub, c.Certificate)
		t.join(sub)
	}
}

// WriteText writes the findings of r, worst first within each file, and a
// summary line.
func (r *LintReport) WriteText(w io.Writer) error {
	t := &textWriter{w: w}
	writeFindings(t, r.Findings)
	t.line("%d error(s), %d warning(s) in %d file(s), %d certificate(s) checked", r.Errors, r.Warnings, r.Files, r.Certificates)
	return t.err
}

func writeFindings(t *textWriter, fs []Finding) {
	if len(fs) == 0 {
		t.line("no findings")
		return
	}
	for _, f := range fs {
		t.line("%-7s %s %s: %s", strings.ToUpper(string(f.Severity)), f.Rule, escape(f.Source), escape(f.Message))
		t.line("%12s %s", "fix:", f.Fix)
	}
}

// WriteRulesText writes the lint catalogue as a table.
func WriteRulesText(w io.Writer, rules []Rule) error {
	t := &textWriter{w: w}
	t.line("%-4s %-8s %s", "ID", "SEVERITY", "RULE")
	for _, r := range rules {
		t.line("%-4s %-8s %s", r.ID, r.Severity, r.Summary)
		t.line("%-4s %-8s fix: %s", "", "", r.Fix)
	}
	return t.err
}
