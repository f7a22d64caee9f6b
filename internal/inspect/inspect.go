package inspect

import (
	"io"

	certv1 "k8s.io/api/certificates/v1"
	"strings"
	"time"
)

// Options control [Inspect] and [Lint].
type Options struct {
	// Now is the clock for validity and time left; nil means time.Now.
	Now func() time.Time
	// Stdin is read for the path "-".
	Stdin io.Reader
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// Inspect reads every path (a file, a directory walked recursively, or "-"
// for opts.Stdin) and describes each object found, with the CA among all
// inputs that signed each certificate and the certificate each private key
// belongs to. A file that cannot be parsed becomes an [Item] with Error
// set; a path that does not exist is an error.
func Inspect(paths []string, opts Options) (*Report, error) {
	s, err := readPaths(paths, readOptions{stdin: opts.Stdin})
	if err != nil {
		return nil, err
	}
	return s.report(opts.now()), nil
}

// report describes every top-level entry of s.
func (s *set) report(now time.Time) *Report {
	r := &Report{APIVersion: APIVersion, Kind: ReportKind, Items: []Item{}}
	for _, e := range s.entries {
		if e.embedded || e.context {
			continue
		}
		r.Items = append(r.Items, s.item(e, now))
	}
	return r
}

func (s *set) item(e *entry, now time.Time) Item {
	it := Item{Source: e.source, Reference: e.ref, Kind: e.obj.Kind}
	if e.err != nil {
		it.Error = e.err.Error()
		return it
	}
	switch e.obj.Kind {
	case KindCertificate:
		it.Certificate = s.describeCert(e, now)
	case KindCSR:
		it.CSR = describeCSR(e)
	case KindPrivateKey, KindPublicKey:
		k := s.describeKeyEntry(e)
		it.Key = &k
	case KindKubeconfig:
		it.Kubeconfig = s.describeKubeconfig(e, now)
	case KindCSRObject:
		it.CSRObject = describeCSRObject(e, now)
	}
	return it
}

func describeCSRObject(e *entry, now time.Time) *CSRObject {
	csr := e.obj.CSRObject
	d := &CSRObject{Name: csr.Name, SignerName: csr.Spec.SignerName, ExpirationSeconds: csr.Spec.ExpirationSeconds, Condition: csrCondition(csr)}
	for _, u := range csr.Spec.Usages {
		d.Usages = append(d.Usages, string(u))
	}
	if len(csr.Spec.Request) > 0 {
		objs, err := Parse(csr.Spec.Request)
		switch {
		case err != nil:
			d.Error = "spec.request: " + err.Error()
		case objs[0].Kind != KindCSR:
			d.Error = "spec.request holds a " + string(objs[0].Kind) + ", not a certificate request"
		default:
			d.Request = describeCSR(&entry{obj: objs[0]})
		}
	}
	if len(csr.Status.Certificate) > 0 {
		if objs, err := Parse(csr.Status.Certificate); err == nil && objs[0].Kind == KindCertificate {
			c := describeCertificate(objs[0].Certificate, now)
			r := classify(objs[0].Certificate, "")
			c.Role, c.RoleID = r.name, r.id
			d.Certificate = c
		}
	}
	return d
}

// csrCondition renders the conditions of csr as kubectl's CONDITION column.
func csrCondition(csr *certv1.CertificateSigningRequest) string {
	var parts []string
	for _, c := range csr.Status.Conditions {
		if c.Status == "" || c.Status == "True" {
			parts = append(parts, string(c.Type))
		}
	}
	if len(parts) == 0 {
		parts = []string{"Pending"}
	}
	if len(csr.Status.Certificate) > 0 {
		parts = append(parts, "Issued")
	}
	return strings.Join(parts, ",")
}

func (s *set) describeCert(e *entry, now time.Time) *Certificate {
	cert := e.obj.Certificate
	d := describeCertificate(cert, now)
	r := classify(cert, e.rolePath())
	d.Role, d.RoleID = r.name, r.id
	if e.kubeconfigCluster != "" && !r.ca {
		d.Role += " (CA of cluster " + e.kubeconfigCluster + ")"
	}
	if iss := s.issuerOf(e); iss != nil {
		d.SignedBy = iss.source
	}
	return d
}

func describeCSR(e *entry) *CSR {
	csr := e.obj.CSR
	r := classifyCSR(csr, e.path)
	d := &CSR{
		Subject:            formatName(csr.Subject),
		PublicKey:          describeKey(csr.PublicKey),
		SignatureAlgorithm: csr.SignatureAlgorithm.String(),
		SignatureValid:     csr.CheckSignature() == nil,
		DNSNames:           csr.DNSNames,
		EmailAddresses:     csr.EmailAddresses,
		Identity:           Identity{User: csr.Subject.CommonName, Groups: csr.Subject.Organization},
		Role:               strings.Replace(r.name, "certificate", "certificate request", 1),
		RoleID:             r.id,
	}
	if e.obj.PEMType != "" {
		d.PEMType = e.obj.PEMType
	}
	for _, ip := range csr.IPAddresses {
		d.IPAddresses = append(d.IPAddresses, ip.String())
	}
	for _, u := range csr.URIs {
		d.URIs = append(d.URIs, u.String())
	}
	return d
}

func (s *set) describeKeyEntry(e *entry) Key {
	k := describeKey(e.obj.PublicKey)
	if e.obj.PublicKey == nil {
		k = Key{Algorithm: "unknown"}
	}
	k.Private = e.obj.Kind == KindPrivateKey
	k.Encrypted = e.obj.Encrypted
	k.Format = e.obj.Format
	if e.hasMode {
		k.Mode = modeOctal(uint32(e.mode))
	}
	if e.obj.PublicKey != nil {
		for _, c := range s.certs() {
			if !c.embedded && publicKeysEqual(e.obj.PublicKey, c.obj.Certificate.PublicKey) {
				k.Matches = c.source
				break
			}
		}
	}
	return k
}

func modeOctal(m uint32) string {
	const digits = "01234567"
	return string([]byte{'0', digits[m>>6&7], digits[m>>3&7], digits[m&7]})
}

func (s *set) describeKubeconfig(e *entry, now time.Time) *Kubeconfig {
	cfg := e.obj.Kubeconfig
	d := &Kubeconfig{CurrentContext: cfg.CurrentContext}
	for _, name := range sortedKeys(cfg.Clusters) {
		c := cfg.Clusters[name]
		kc := KubeconfigCluster{Name: name, Server: c.Server, CAFile: c.CertificateAuthority, CAData: len(c.CertificateAuthorityData) > 0, InsecureSkipVerify: c.InsecureSkipTLSVerify}
		for _, sub := range s.entries {
			if sub.embedded && sub.path == e.path && sub.kubeconfigCluster == name {
				if sub.err != nil {
					kc.Error = sub.err.Error()
					continue
				}
				kc.CA = append(kc.CA, *s.describeCert(sub, now))
			}
		}
		d.Clusters = append(d.Clusters, kc)
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		u := cfg.AuthInfos[name]
		ku := KubeconfigUser{Name: name}
		if u.ClientCertificate != "" {
			ku.Auth = append(ku.Auth, "client-certificate")
		}
		if len(u.ClientCertificateData) > 0 {
			ku.Auth = append(ku.Auth, "client-certificate-data")
		}
		if u.Token != "" || u.TokenFile != "" {
			ku.Auth = append(ku.Auth, "token")
		}
		if u.Exec != nil {
			ku.Auth = append(ku.Auth, "exec")
		}
		if u.AuthProvider != nil {
			ku.Auth = append(ku.Auth, "auth-provider")
		}
		if u.Username != "" || u.Password != "" {
			ku.Auth = append(ku.Auth, "basic-auth")
		}
		src := e.source + "#users/" + name
		for _, sub := range s.entries {
			if sub.embedded && sub.source == src {
				if sub.err != nil {
					ku.Error = sub.err.Error()
					continue
				}
				ku.Certificate = s.describeCert(sub, now)
				switch {
				case sub.userKeyErr != nil:
					ku.Error = sub.userKeyErr.Error()
				case sub.userKey != nil:
					k := describeKey(sub.userKey.PublicKey)
					k.Private, k.Format, k.Encrypted = true, sub.userKey.Format, sub.userKey.Encrypted
					ku.Key = &k
					if sub.userKey.PublicKey != nil {
						m := publicKeysEqual(sub.userKey.PublicKey, sub.obj.Certificate.PublicKey)
						ku.KeyMatches = &m
					}
				}
			}
		}
		d.Users = append(d.Users, ku)
	}
	for _, name := range sortedKeys(cfg.Contexts) {
		c := cfg.Contexts[name]
		d.Contexts = append(d.Contexts, KubeconfigContext{Name: name, Cluster: c.Cluster, User: c.AuthInfo, Namespace: c.Namespace})
	}
	return d
}
