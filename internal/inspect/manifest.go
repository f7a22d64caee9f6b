package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ErrNotManifest is returned by [ParseManifest] for YAML that is neither a
// Pod nor a KubeletConfiguration.
var ErrNotManifest = errors.New("not a static pod manifest or kubelet configuration")

// Manifest describes a static pod manifest or kubelet configuration file
// and the certificate, key and kubeconfig files it names.
type Manifest struct {
	Source string `json:"source"`
	// Kind is "Pod" or "KubeletConfiguration".
	Kind string `json:"kind"`
	// Component is the container's name (kube-apiserver, etcd, …) or
	// "kubelet".
	Component  string      `json:"component"`
	References []Reference `json:"references"`
	// AdvertiseAddress and ServiceClusterIPRange are kube-apiserver's
	// --advertise-address and --service-cluster-ip-range, when the
	// manifest gives them: its certificate must hold the address and the
	// first IP of the range (kubernetes-pki.md §1.4).
	AdvertiseAddress      string `json:"advertiseAddress,omitempty"`
	ServiceClusterIPRange string `json:"serviceClusterIPRange,omitempty"`
}

// Reference is one file a flag or field names.
type Reference struct {
	// Flag is the flag ("--tls-cert-file") or field
	// ("authentication.x509.clientCAFile") naming the file.
	Flag string `json:"flag"`
	Path string `json:"path"`
	// Use says what the component does with the file: "certificate",
	// "key", "ca", "public-key" or "kubeconfig".
	Use string `json:"use"`
}

// fileFlag describes a flag that names a file.
type fileFlag struct {
	use string
	// role is the role of a certificate named by the flag, "" to read it
	// from the file.
	role string
	// key is the flag naming the certificate's private key.
	key string
	// ca is the flag naming the CA bundle that must have signed the
	// certificate: the one the component, or its peers, trust.
	ca string
}

// componentFlags are the file flags of each component, after kubeadm's
// static pod manifests (kubernetes-pki.md §1.8).
var componentFlags = map[string]map[string]fileFlag{
	"kube-apiserver": {
		"--client-ca-file":                   {use: "ca"},
		"--tls-cert-file":                    {use: "certificate", role: RoleAPIServer, key: "--tls-private-key-file", ca: "--client-ca-file"},
		"--tls-private-key-file":             {use: "key"},
		"--kubelet-client-certificate":       {use: "certificate", role: RoleAPIServerKubeletClient, key: "--kubelet-client-key", ca: "--client-ca-file"},
		"--kubelet-client-key":               {use: "key"},
		"--kubelet-certificate-authority":    {use: "ca"},
		"--etcd-cafile":                      {use: "ca"},
		"--etcd-certfile":                    {use: "certificate", role: RoleAPIServerEtcdClient, key: "--etcd-keyfile", ca: "--etcd-cafile"},
		"--etcd-keyfile":                     {use: "key"},
		"--proxy-client-cert-file":           {use: "certificate", role: RoleFrontProxyClient, key: "--proxy-client-key-file", ca: "--requestheader-client-ca-file"},
		"--proxy-client-key-file":            {use: "key"},
		"--requestheader-client-ca-file":     {use: "ca"},
		"--service-account-key-file":         {use: "public-key", key: "--service-account-signing-key-file"},
		"--service-account-signing-key-file": {use: "key"},
	},
	"etcd": {
		"--cert-file":            {use: "certificate", role: RoleEtcdServer, key: "--key-file", ca: "--trusted-ca-file"},
		"--key-file":             {use: "key"},
		"--peer-cert-file":       {use: "certificate", role: RoleEtcdPeer, key: "--peer-key-file", ca: "--peer-trusted-ca-file"},
		"--peer-key-file":        {use: "key"},
		"--trusted-ca-file":      {use: "ca"},
		"--peer-trusted-ca-file": {use: "ca"},
	},
	"kube-controller-manager": {
		"--cluster-signing-cert-file":        {use: "certificate", role: RoleClusterCA, key: "--cluster-signing-key-file"},
		"--cluster-signing-key-file":         {use: "key"},
		"--root-ca-file":                     {use: "ca"},
		"--client-ca-file":                   {use: "ca"},
		"--requestheader-client-ca-file":     {use: "ca"},
		"--service-account-private-key-file": {use: "key"},
		"--tls-cert-file":                    {use: "certificate", key: "--tls-private-key-file"},
		"--tls-private-key-file":             {use: "key"},
		"--kubeconfig":                       {use: "kubeconfig"},
		"--authentication-kubeconfig":        {use: "kubeconfig"},
		"--authorization-kubeconfig":         {use: "kubeconfig"},
	},
	"kube-scheduler": {
		"--kubeconfig":                {use: "kubeconfig"},
		"--authentication-kubeconfig": {use: "kubeconfig"},
		"--authorization-kubeconfig":  {use: "kubeconfig"},
		"--tls-cert-file":             {use: "certificate", key: "--tls-private-key-file"},
		"--tls-private-key-file":      {use: "key"},
	},
	"kubelet": {
		"tlsCertFile":                      {use: "certificate", key: "tlsPrivateKeyFile"},
		"tlsPrivateKeyFile":                {use: "key"},
		"authentication.x509.clientCAFile": {use: "ca"},
	},
}

// kubeletConfiguration holds the fields of kubelet.config.k8s.io
// KubeletConfiguration that name files; k8s.io/kubelet is not a
// dependency for these three fields.
type kubeletConfiguration struct {
	TLSCertFile       string `json:"tlsCertFile"`
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile"`
	Authentication    struct {
		X509 struct {
			ClientCAFile string `json:"clientCAFile"`
		} `json:"x509"`
	} `json:"authentication"`
}

// ParseManifest reads a static pod manifest (a v1 Pod whose containers run
// kube-apiserver, etcd, kube-controller-manager or kube-scheduler) or a
// kubelet configuration and returns the files its flags or fields name, in
// order. Flags are read from each container's command and args, as
// "--flag=value" or "--flag value". Relative paths are kept as written.
// It returns [ErrTooLarge] over [MaxInputSize] and [ErrNotManifest] for
// other documents.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxInputSize)
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotManifest, err)
	}
	switch tm.Kind {
	case "Pod":
		var pod corev1.Pod
		if err := yaml.Unmarshal(data, &pod); err != nil {
			return nil, fmt.Errorf("parse Pod: %w", err)
		}
		return podManifest(&pod)
	case "KubeletConfiguration":
		var kc kubeletConfiguration
		if err := yaml.Unmarshal(data, &kc); err != nil {
			return nil, fmt.Errorf("parse KubeletConfiguration: %w", err)
		}
		m := &Manifest{Kind: tm.Kind, Component: "kubelet"}
		flags := componentFlags["kubelet"]
		for _, f := range []struct{ name, path string }{
			{"tlsCertFile", kc.TLSCertFile},
			{"tlsPrivateKeyFile", kc.TLSPrivateKeyFile},
			{"authentication.x509.clientCAFile", kc.Authentication.X509.ClientCAFile},
		} {
			if f.path != "" {
				m.References = append(m.References, Reference{Flag: f.name, Path: f.path, Use: flags[f.name].use})
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: kind %q", ErrNotManifest, tm.Kind)
}

func podManifest(pod *corev1.Pod) (*Manifest, error) {
	m := &Manifest{Kind: "Pod"}
	for _, c := range pod.Spec.Containers {
		args := append(append([]string(nil), c.Command...), c.Args...)
		component := componentOf(c.Name, args)
		flags, ok := componentFlags[component]
		if !ok {
			continue
		}
		if m.Component == "" {
			m.Component = component
		}
		for i := 0; i < len(args); i++ {
			name, value, hasValue := strings.Cut(args[i], "=")
			f, known := flags[name]
			setting := component == "kube-apiserver" && (name == "--advertise-address" || name == "--service-cluster-ip-range")
			if !known && !setting {
				continue
			}
			if !hasValue {
				if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
					continue
				}
				i++
				value = args[i]
			}
			switch {
			case value == "":
			case name == "--advertise-address":
				m.AdvertiseAddress = value // the last one wins, as with kube-apiserver's flags
			case name == "--service-cluster-ip-range":
				m.ServiceClusterIPRange = value
			default:
				m.References = append(m.References, Reference{Flag: name, Path: value, Use: f.use})
			}
		}
	}
	if m.Component == "" {
		return nil, fmt.Errorf("%w: no container runs kube-apiserver, etcd, kube-controller-manager or kube-scheduler", ErrNotManifest)
	}
	return m, nil
}

// componentOf names the component a container runs: its command's base
// name if known, else its name.
func componentOf(name string, args []string) string {
	if len(args) > 0 {
		if base := filepath.Base(args[0]); componentFlags[base] != nil {
			return base
		}
	}
	return name
}

// InspectManifest reads the manifest or kubelet configuration at path,
// describes every file it names (relative paths resolve from the
// manifest's directory), and checks them together: each certificate with
// the rules for the role its flag gives it, its key (L22), and the CA
// bundle that must have signed it (L21). A file that cannot be read is an
// item with Error and an L00 or L32 finding. The kube-apiserver
// certificate is checked against the manifest's --advertise-address and
// --service-cluster-ip-range, unless ctx.AdvertiseAddress or
// ctx.ServiceCIDR is set, which win.
func InspectManifest(path string, opts Options, ctx Context) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	m.Source = path
	s := &set{}
	base := filepath.Dir(path)
	byFlag := map[string][]*entry{}
	for _, ref := range m.References {
		p := ref.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		n := len(s.entries)
		s.addFile(p, ref.Flag, false)
		for _, e := range s.entries[n:] {
			byFlag[ref.Flag] = append(byFlag[ref.Flag], e)
		}
	}
	flags := componentFlags[m.Component]
	for flag, es := range byFlag {
		if r := flags[flag].role; r != "" {
			for _, e := range es {
				if !e.embedded {
					e.roleHint = r
				}
			}
		}
	}
	now := opts.now()
	if ctx.Now.IsZero() {
		ctx.Now = now
	}
	if ctx.AdvertiseAddress == "" {
		ctx.AdvertiseAddress = m.AdvertiseAddress
	}
	if ctx.ServiceCIDR == "" {
		ctx.ServiceCIDR = m.ServiceClusterIPRange
	}
	rep := s.report(now)
	rep.Manifest = m
	fs := s.findings(ctx)
	fs = append(fs, manifestFindings(flags, byFlag, s)...)
	rep.Findings = dedupeFindings(fs)
	return rep, nil
}

// manifestFindings checks the pairs and chains the component's flags
// define.
func manifestFindings(flags map[string]fileFlag, byFlag map[string][]*entry, s *set) []Finding {
	var fs []Finding
	for _, flag := range sortedKeys(flags) {
		f := flags[flag]
		certs := byFlag[flag]
		if len(certs) == 0 || certs[0].err != nil {
			continue
		}
		subject := certs[0]
		if f.use == "public-key" {
			fs = append(fs, publicKeyFlagFindings(flag, f.key, certs, byFlag[f.key], s)...)
			continue
		}
		pub := subject.obj.publicKeyOf()
		if keys := byFlag[f.key]; f.key != "" && len(keys) > 0 && keys[0].err == nil && pub != nil && keys[0].obj.PublicKey != nil {
			if !publicKeysEqual(pub, keys[0].obj.PublicKey) && s.keyFor(subject) != keys[0] {
				fs = append(fs, finding(RuleKeyMismatch, subject.source, "%s %s does not match %s %s", flag, subject.source, f.key, keys[0].source))
			}
		}
		if cas := byFlag[f.ca]; f.ca != "" && len(cas) > 0 && subject.obj.Kind == KindCertificate {
			signed, readable := false, false
			for _, ca := range cas {
				if ca.err == nil && ca.obj.Kind == KindCertificate {
					readable = true
					signed = signed || checkSignature(subject.obj.Certificate, ca.obj.Certificate) == nil
				}
			}
			if readable && !signed {
				fs = append(fs, finding(RuleWrongCA, subject.source, "%s %s is not signed by a CA in %s %s", flag, subject.source, f.ca, cas[0].path))
			}
		}
	}
	return fs
}

// publicKeyFlagFindings checks that the public keys a flag names (every
// --service-account-key-file, each file possibly a bundle) include the
// public half of the private key keyFlag names: kube-apiserver verifies the
// tokens it signs with --service-account-signing-key-file against them
// (L43). A public key file paired by name with that key file is already
// checked by [set.publicKeyFindings].
func publicKeyFlagFindings(flag, keyFlag string, pubs, keys []*entry, s *set) []Finding {
	if keyFlag == "" || len(keys) == 0 || keys[0].err != nil || keys[0].obj.PublicKey == nil {
		return nil
	}
	key := keys[0]
	paths := map[string]bool{}
	for _, e := range pubs {
		if e.err != nil {
			return nil // unreadable: an L00 of its own
		}
		if pub := e.obj.publicKeyOf(); pub != nil && publicKeysEqual(pub, key.obj.PublicKey) {
			return nil
		}
		paths[e.path] = true
	}
	if len(paths) == 1 && s.keyFor(pubs[0]) == key {
		return nil
	}
	return []Finding{finding(RulePublicKeyMismatch, pubs[0].path, "%s %s holds no public half of %s %s: kube-apiserver rejects every service-account token it signs (every pod gets 401)", flag, strings.Join(sortedKeys(paths), ", "), keyFlag, key.source)}
}

func dedupeFindings(fs []Finding) []Finding {
	seen := map[Finding]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sortFindings(out)
	return out
}
