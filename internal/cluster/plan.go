package cluster

import (
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
)

// CA names, as kubeadm calls them in check-expiration and renew.
const (
	CAName           = "ca"
	FrontProxyCAName = "front-proxy-ca"
	EtcdCAName       = "etcd-ca"
)

// File name suffixes of the plan.
const (
	certSuffix = ".crt"
	keySuffix  = ".key"
)

// Service-account key pair file names under the certificate folder.
const (
	ServiceAccountKeyFile       = "sa.key"
	ServiceAccountPublicKeyFile = "sa.pub"
)

// Identities kubeadm gives the control-plane components.
const (
	groupClusterAdmins = "kubeadm:cluster-admins"
	groupMasters       = "system:masters"
	groupNodes         = "system:nodes"
	nodeUserPrefix     = "system:node:"
	kubeProxyUser      = "system:kube-proxy"
)

// CASpec is one certificate authority of the plan.
type CASpec struct {
	// Name is kubeadm's name for the CA: "ca", "front-proxy-ca", "etcd-ca".
	Name string `json:"name"`
	// BaseName is the file path relative to the certificate folder without
	// extension: "ca", "front-proxy-ca", "etcd/ca".
	BaseName string `json:"baseName"`
	// CommonName is the CA's subject CN, also its DNS SAN (as kubeadm).
	CommonName string `json:"commonName"`
}

// CertSpec is one leaf certificate with its key, written as
// <BaseName>.crt (0644) and <BaseName>.key (0600) under the certificate
// folder.
type CertSpec struct {
	// Name is the certificate's name in check-expiration and the argument
	// of "certs renew": kubeadm's name ("apiserver", "etcd-peer") for the
	// kubeadm set, the base name for the rest ("nodes/w1/kubelet").
	Name string `json:"name"`
	// LongName says what the certificate is for, in kubeadm's words.
	LongName string `json:"longName"`
	// BaseName is the path relative to the certificate folder without
	// extension ("etcd/server").
	BaseName string `json:"baseName"`
	// CA is the Name of the signing CASpec.
	CA string `json:"ca"`
	// CommonName and Organization form the subject (user name and groups
	// for client certificates).
	CommonName   string   `json:"commonName"`
	Organization []string `json:"organization,omitempty"`
	// ExtKeyUsage are the extended key usages. Key usage is always
	// digitalSignature and keyEncipherment, as kubeadm.
	ExtKeyUsage []x509.ExtKeyUsage `json:"extKeyUsage"`
	// DNSNames (sorted) and IPAddresses (in construction order) are the
	// SANs.
	DNSNames    []string `json:"dnsNames,omitempty"`
	IPAddresses []net.IP `json:"ipAddresses,omitempty"`
	// Kubeadm reports whether the certificate is in kubeadm's own list,
	// and so a row of check-expiration without a cluster file.
	Kubeadm bool `json:"kubeadm"`
}

// KubeconfigSpec is one kubeconfig file with an embedded client
// certificate, written 0600 as <KubeconfigDir>/<Name>.
type KubeconfigSpec struct {
	// Name is the file path relative to the kubeconfig folder, and the
	// name in check-expiration and "certs renew" ("admin.conf").
	Name string `json:"name"`
	// LongName says what the file is for, in kubeadm's words.
	LongName string `json:"longName"`
	// CommonName and Organization are the client certificate's subject,
	// signed by the "ca" CA with EKU clientAuth; CommonName is also the
	// kubeconfig user name.
	CommonName   string   `json:"commonName"`
	Organization []string `json:"organization,omitempty"`
	// Server is the API server URL.
	Server string `json:"server"`
	// CertBaseName, if set, also writes the client certificate and key as
	// files <CertBaseName>.crt/.key under the certificate folder.
	CertBaseName string `json:"certBaseName,omitempty"`
	// Expiration reports whether check-expiration lists the file and
	// "certs renew all" renews it: false only for kubelet.conf, whose
	// certificate the kubelet rotates itself.
	Expiration bool `json:"expiration"`
	// Kubeadm reports whether the file is one kubeadm writes.
	Kubeadm bool `json:"kubeadm"`
}

// Plan is the resolved table of everything a cluster's PKI consists of,
// made from [Options] by [NewPlan]. All operations of the package derive
// from it.
type Plan struct {
	// CertDir and KubeconfigDir are the folders the paths are relative to.
	CertDir       string `json:"certDir"`
	KubeconfigDir string `json:"kubeconfigDir"`
	// ClusterName is the kubeconfig cluster name.
	ClusterName string `json:"clusterName"`
	// DNSDomain is the cluster DNS domain.
	DNSDomain string `json:"dnsDomain"`
	// ServiceCIDR is the service subnet the API server certificate's
	// first IP SAN comes from.
	ServiceCIDR string `json:"serviceCIDR"`
	// CAs, Certs and Kubeconfigs are the files, in creation order.
	CAs         []CASpec         `json:"cas"`
	Certs       []CertSpec       `json:"certs"`
	Kubeconfigs []KubeconfigSpec `json:"kubeconfigs"`
	// Nodes are the nodes with kubelet credentials from a cluster file.
	Nodes []Node `json:"nodes,omitempty"`
	// Users are the users from a cluster file.
	Users []User `json:"users,omitempty"`

	// Start is the one start time of the run; certificates are valid from
	// Start-Backdate.
	Start time.Time `json:"start"`
	// KeyAlgorithm is the type of generated keys.
	KeyAlgorithm pki.KeyAlgorithm `json:"keyAlgorithm"`
	// CertValidity and CAValidity are lifetimes counted from Start.
	CertValidity time.Duration `json:"certValidity"`
	CAValidity   time.Duration `json:"caValidity"`
	// Force replaces mismatching files.
	Force bool `json:"force"`
	// Progress is Options.Progress.
	Progress func(done, total int) `json:"-"`

	// networkGiven reports whether Options set ServiceCIDR or DNSDomain,
	// so that the planned apiserver names are the cluster's and not only
	// kubeadm's defaults (see [Plan.Renew]).
	networkGiven bool
}

// CertPath returns the path of a file of the certificate folder given its
// base name and suffix.
func (p *Plan) CertPath(baseName, suffix string) string {
	return filepath.Join(p.CertDir, filepath.FromSlash(baseName)+suffix)
}

// KubeconfigPath returns the path of the kubeconfig file named name.
func (p *Plan) KubeconfigPath(name string) string {
	return filepath.Join(p.KubeconfigDir, filepath.FromSlash(name))
}

// kubeconfigDirMode is the mode of folders created for the kubeconfig k,
// which embeds a private key: kubeadm's 0755 (kubernetes-pki reference
// §1.7, clientcmd.WriteToFile) for the kubeconfig folder of kubeadm's own
// files, and 0700 ([pki.ModeKeyDir], security.md §2.8) for every other
// kubeconfig: users/, nodes/<name>/, and the kubeconfig folder itself
// when only such files need it. Existing folders keep their mode.
func kubeconfigDirMode(k KubeconfigSpec) fs.FileMode {
	if k.Kubeadm {
		return pki.ModeDir
	}
	return pki.ModeKeyDir
}

// CA returns the CA of the plan named name, or nil.
func (p *Plan) CA(name string) *CASpec {
	for i := range p.CAs {
		if p.CAs[i].Name == name {
			return &p.CAs[i]
		}
	}
	return nil
}

// NodePaths are where a node's kubelet credentials go, relative to the
// certificate folder (ServingBase, ClientBase; add .crt/.key) and the
// kubeconfig folder (Kubeconfig).
type NodePaths struct {
	ServingBase string
	ClientBase  string
	Kubeconfig  string
}

// PathsForNode returns the file layout of a node's kubelet credentials:
// nodes/<name>/kubelet.crt|key (serving), nodes/<name>/kubelet-client.crt|key
// and nodes/<name>/kubelet.conf.
func PathsForNode(name string) NodePaths {
	return NodePaths{
		ServingBase: "nodes/" + name + "/kubelet",
		ClientBase:  "nodes/" + name + "/kubelet-client",
		Kubeconfig:  "nodes/" + name + "/kubelet.conf",
	}
}

// UserPaths are where a user's credentials go: users/<name>.crt|key under
// the certificate folder and users/<name>.conf under the kubeconfig folder.
type UserPaths struct {
	CertBase   string
	Kubeconfig string
}

// PathsForUser returns the file layout of a user's credentials.
func PathsForUser(name string) UserPaths {
	return UserPaths{CertBase: "users/" + name, Kubeconfig: "users/" + name + ".conf"}
}

// kubeadmCAs is kubeadm's CA list (certlist.go): CN = DNS SAN.
func kubeadmCAs() []CASpec {
	return []CASpec{
		{Name: CAName, BaseName: "ca", CommonName: "kubernetes"},
		{Name: FrontProxyCAName, BaseName: "front-proxy-ca", CommonName: "front-proxy-ca"},
		{Name: EtcdCAName, BaseName: "etcd/ca", CommonName: "etcd-ca"},
	}
}

var (
	ekuServer = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	ekuClient = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	ekuBoth   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// resolved are the checked inputs the tables are built from.
type resolved struct {
	nodeName       string
	advertise      net.IP
	serviceIP      net.IP
	dnsDomain      string
	endpointHost   string // host of ControlPlaneEndpoint, "" if unset
	endpointPort   int
	bindPort       int
	extraDNS       []string
	extraIPs       []net.IP
	etcdDNS        []string
	etcdIPs        []net.IP
	localServer    string
	endpointServer string
}

// kubeadmCerts is kubeadm's leaf certificate list (certlist.go,
// pkiutil.GetAPIServerAltNames, getAltNames), in kubeadm's order.
func kubeadmCerts(r *resolved) []CertSpec {
	apiDNS := []string{r.nodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + r.dnsDomain}
	apiIPs := []net.IP{r.serviceIP, r.advertise}
	if r.endpointHost != "" {
		if ip := net.ParseIP(r.endpointHost); ip != nil {
			apiIPs = append(apiIPs, ip)
		} else {
			apiDNS = append(apiDNS, r.endpointHost)
		}
	}
	apiDNS = append(apiDNS, r.extraDNS...)
	apiIPs = append(apiIPs, r.extraIPs...)

	etcdDNS := append([]string{r.nodeName, "localhost"}, r.etcdDNS...)
	etcdIPs := append([]net.IP{r.advertise, net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}, r.etcdIPs...)

	return []CertSpec{
		{Name: "apiserver", LongName: "certificate for serving the Kubernetes API", BaseName: "apiserver",
			CA: CAName, CommonName: "kube-apiserver", ExtKeyUsage: ekuServer,
			DNSNames: sortedDNS(apiDNS), IPAddresses: uniqueIPs(apiIPs), Kubeadm: true},
		{Name: "apiserver-kubelet-client", LongName: "certificate for the API server to connect to kubelet",
			BaseName: "apiserver-kubelet-client", CA: CAName, CommonName: "kube-apiserver-kubelet-client",
			Organization: []string{groupClusterAdmins}, ExtKeyUsage: ekuClient, Kubeadm: true},
		{Name: "front-proxy-client", LongName: "certificate for the front proxy client", BaseName: "front-proxy-client",
			CA: FrontProxyCAName, CommonName: "front-proxy-client", ExtKeyUsage: ekuClient, Kubeadm: true},
		{Name: "etcd-server", LongName: "certificate for serving etcd", BaseName: "etcd/server",
			CA: EtcdCAName, CommonName: r.nodeName, ExtKeyUsage: ekuBoth,
			DNSNames: sortedDNS(etcdDNS), IPAddresses: uniqueIPs(etcdIPs), Kubeadm: true},
		{Name: "etcd-peer", LongName: "certificate for etcd nodes to communicate with each other", BaseName: "etcd/peer",
			CA: EtcdCAName, CommonName: r.nodeName, ExtKeyUsage: ekuBoth,
			DNSNames: sortedDNS(etcdDNS), IPAddresses: uniqueIPs(etcdIPs), Kubeadm: true},
		{Name: "etcd-healthcheck-client", LongName: "certificate for liveness probes to healthcheck etcd",
			BaseName: "etcd/healthcheck-client", CA: EtcdCAName, CommonName: "kube-etcd-healthcheck-client",
			ExtKeyUsage: ekuClient, Kubeadm: true},
		{Name: "apiserver-etcd-client", LongName: "certificate the apiserver uses to access etcd",
			BaseName: "apiserver-etcd-client", CA: EtcdCAName, CommonName: "kube-apiserver-etcd-client",
			ExtKeyUsage: ekuClient, Kubeadm: true},
	}
}

// kubeadmKubeconfigs is kubeadm's kubeconfig list (phases/kubeconfig).
// admin.conf and super-admin.conf use the control-plane endpoint; the
// others the node-local API server (kubelet.conf too, as kubeadm v1.33+).
func kubeadmKubeconfigs(r *resolved) []KubeconfigSpec {
	return []KubeconfigSpec{
		{Name: "admin.conf", LongName: "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
			CommonName: "kubernetes-admin", Organization: []string{groupClusterAdmins}, Server: r.endpointServer,
			Expiration: true, Kubeadm: true},
		{Name: "super-admin.conf", LongName: "certificate embedded in the kubeconfig file for the super-admin",
			CommonName: "kubernetes-super-admin", Organization: []string{groupMasters}, Server: r.endpointServer,
			Expiration: true, Kubeadm: true},
		{Name: "controller-manager.conf", LongName: "certificate embedded in the kubeconfig file for the controller manager to use",
			CommonName: "system:kube-controller-manager", Server: r.localServer, Expiration: true, Kubeadm: true},
		{Name: "scheduler.conf", LongName: "certificate embedded in the kubeconfig file for the scheduler manager to use",
			CommonName: "system:kube-scheduler", Server: r.localServer, Expiration: true, Kubeadm: true},
		{Name: "kubelet.conf", LongName: "certificate embedded in the kubeconfig file for the kubelet to use",
			CommonName: nodeUserPrefix + r.nodeName, Organization: []string{groupNodes}, Server: r.localServer,
			Kubeadm: true},
	}
}

// nodeCerts returns a node's kubelet serving certificate (CN and O as a
// kubelet's serving CSR: system:node:<name>, system:nodes; EKU serverAuth;
// SANs the node name, its DNS names and IPs) and its kubelet kubeconfig with
// the client certificate also written as files.
func nodeCerts(n Node, server string) (CertSpec, KubeconfigSpec) {
	paths := PathsForNode(n.Name)
	var ips []net.IP
	for _, s := range n.IPs {
		ips = append(ips, normalIP(net.ParseIP(s)))
	}
	serving := CertSpec{
		Name: paths.ServingBase, LongName: "kubelet serving certificate of node " + n.Name, BaseName: paths.ServingBase,
		CA: CAName, CommonName: nodeUserPrefix + n.Name, Organization: []string{groupNodes}, ExtKeyUsage: ekuServer,
		DNSNames: sortedDNS(append([]string{n.Name}, n.DNSNames...)), IPAddresses: uniqueIPs(ips),
	}
	client := KubeconfigSpec{
		Name: paths.Kubeconfig, LongName: "kubelet client certificate of node " + n.Name,
		CommonName: nodeUserPrefix + n.Name, Organization: []string{groupNodes}, Server: server,
		CertBaseName: paths.ClientBase, Expiration: true,
	}
	return serving, client
}

// NewPlan checks opts and resolves them into the plan's table. It reports
// every problem of opts at once. The start time is read from opts.Now.
func NewPlan(opts Options) (*Plan, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	r := &resolved{nodeName: opts.NodeName, dnsDomain: opts.DNSDomain, bindPort: opts.BindPort}
	if r.bindPort == 0 {
		r.bindPort = DefaultBindPort
	}
	if r.bindPort < 1 || r.bindPort > 65535 {
		bad("bind port %d is out of range 1-65535", r.bindPort)
	}
	if opts.CertDir == "" {
		bad("certificate folder is empty: set --cert-dir")
	}
	if opts.KubeconfigDir == "" {
		bad("kubeconfig folder is empty: set --kubeconfig-dir")
	}
	if err := ValidateNodeName(r.nodeName); err != nil {
		bad("%v", err)
	}
	if r.dnsDomain == "" {
		r.dnsDomain = DefaultDNSDomain
	}
	if !isDNSName(r.dnsDomain) {
		bad("DNS domain %q is not a valid DNS name: use for example %q", r.dnsDomain, DefaultDNSDomain)
	}
	clusterName := opts.ClusterName
	if clusterName == "" {
		clusterName = DefaultClusterName
	}

	switch {
	case opts.AdvertiseAddress == "":
		ip, err := defaultAddress()
		if err != nil {
			bad("%v", err)
		}
		r.advertise = ip
	default:
		r.advertise = normalIP(net.ParseIP(opts.AdvertiseAddress))
		if r.advertise == nil || r.advertise.IsUnspecified() {
			bad("advertise address %q is not a usable IP address: pass this node's IP with --advertise-address", opts.AdvertiseAddress)
		}
	}

	cidr := opts.ServiceCIDR
	if cidr == "" {
		cidr = DefaultServiceCIDR
	}
	ip, err := firstServiceIP(cidr)
	if err != nil {
		bad("%v", err)
	}
	r.serviceIP = ip

	if opts.ControlPlaneEndpoint != "" {
		host, port, err := splitEndpoint(opts.ControlPlaneEndpoint)
		if err != nil {
			bad("%v", err)
		}
		r.endpointHost, r.endpointPort = host, port
	}
	for _, s := range opts.APIServerCertSANs {
		if ip := net.ParseIP(s); ip != nil {
			r.extraIPs = append(r.extraIPs, normalIP(ip))
		} else if isDNSName(s) || isWildcardDNSName(s) {
			r.extraDNS = append(r.extraDNS, s)
		} else {
			bad("API server SAN %q is neither an IP address nor a DNS name", s)
		}
	}

	// Further control-plane nodes share the apiserver and etcd
	// certificates, so their names and addresses are SANs of them.
	seen := map[string]bool{r.nodeName: true}
	var nodes []Node
	for _, group := range [][]Node{opts.ControlPlaneNodes, opts.WorkerNodes} {
		for _, n := range group {
			if err := validateNode(n); err != nil {
				bad("%v", err)
				continue
			}
			if seen[n.Name] && n.Name != r.nodeName {
				bad("node %q is listed twice: give every node a distinct name", n.Name)
				continue
			}
			seen[n.Name] = true
			nodes = append(nodes, n)
		}
	}
	for _, n := range opts.ControlPlaneNodes {
		if validateNode(n) != nil {
			continue
		}
		r.extraDNS = append(r.extraDNS, n.Name)
		r.etcdDNS = append(r.etcdDNS, n.Name)
		for _, s := range n.IPs {
			r.extraIPs = append(r.extraIPs, normalIP(net.ParseIP(s)))
			r.etcdIPs = append(r.etcdIPs, normalIP(net.ParseIP(s)))
		}
		r.extraDNS = append(r.extraDNS, n.DNSNames...)
		r.etcdDNS = append(r.etcdDNS, n.DNSNames...)
	}
	userSeen := map[string]bool{}
	for _, u := range opts.Users {
		if err := ValidateUserName(u.Name); err != nil {
			bad("%v", err)
			continue
		}
		if userSeen[u.Name] {
			bad("user %q is listed twice: give every user a distinct name", u.Name)
		}
		userSeen[u.Name] = true
	}

	alg := opts.KeyAlgorithm
	if alg == "" {
		alg = pki.DefaultKeyAlgorithm
	}
	if _, err := ParseKeyAlgorithm(string(alg)); err != nil {
		bad("%v", err)
	}
	certValidity, caValidity := opts.CertValidity, opts.CAValidity
	if certValidity == 0 {
		certValidity = DefaultCertValidity
	}
	if caValidity == 0 {
		caValidity = DefaultCAValidity
	}
	if certValidity < MinValidity {
		bad("certificate validity %s is shorter than the minimum %s: such certificates expire before the components use them", certValidity, MinValidity)
	}
	if caValidity < MinValidity {
		bad("CA validity %s is shorter than the minimum %s", caValidity, MinValidity)
	}
	if certValidity > caValidity {
		bad("certificate validity %s is longer than CA validity %s: certificates cannot outlive their CA", certValidity, caValidity)
	}
	if len(problems) > 0 {
		return nil, &OptionsError{Problems: problems}
	}

	r.localServer = "https://" + net.JoinHostPort(r.advertise.String(), strconv.Itoa(r.bindPort))
	r.endpointServer = r.localServer
	if r.endpointHost != "" {
		port := r.endpointPort
		if port == 0 {
			port = r.bindPort
		}
		r.endpointServer = "https://" + net.JoinHostPort(r.endpointHost, strconv.Itoa(port))
	}

	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	p := &Plan{
		CertDir: opts.CertDir, KubeconfigDir: opts.KubeconfigDir, ClusterName: clusterName, DNSDomain: r.dnsDomain,
		ServiceCIDR: cidr,
		CAs:         kubeadmCAs(), Certs: kubeadmCerts(r), Kubeconfigs: kubeadmKubeconfigs(r),
		Nodes: nodes, Users: opts.Users,
		Start: now().UTC().Truncate(time.Second), KeyAlgorithm: alg,
		CertValidity: certValidity, CAValidity: caValidity, Force: opts.Force,
		Progress:     opts.Progress,
		networkGiven: opts.ServiceCIDR != "" || opts.DNSDomain != "",
	}
	for _, n := range nodes {
		serving, client := nodeCerts(n, r.endpointServer)
		p.Certs = append(p.Certs, serving)
		p.Kubeconfigs = append(p.Kubeconfigs, client)
	}
	if opts.KubeProxy {
		p.Kubeconfigs = append(p.Kubeconfigs, KubeconfigSpec{
			Name: "kube-proxy.conf", LongName: "certificate embedded in the kubeconfig file for kube-proxy",
			CommonName: kubeProxyUser, Server: r.endpointServer, CertBaseName: "kube-proxy", Expiration: true,
		})
	}
	for _, u := range opts.Users {
		paths := PathsForUser(u.Name)
		p.Kubeconfigs = append(p.Kubeconfigs, KubeconfigSpec{
			Name: paths.Kubeconfig, LongName: "client certificate of user " + u.Name,
			CommonName: u.Name, Organization: slices.Clone(u.Groups), Server: r.endpointServer,
			CertBaseName: paths.CertBase, Expiration: true,
		})
	}
	return p, nil
}

// OptionsError lists every problem found in [Options].
type OptionsError struct {
	Problems []string
}

func (e *OptionsError) Error() string {
	return "invalid cluster options: " + strings.Join(e.Problems, "; ")
}

// ParseKeyAlgorithm is pki.ParseKeyAlgorithm for a cluster's keys: the
// key types kubeadm makes (ECDSA P-256 and P-384, RSA 2048, 3072 and
// 4096), without Ed25519, which Kubernetes components do not load.
func ParseKeyAlgorithm(s string) (pki.KeyAlgorithm, error) {
	var names []string
	for _, a := range pki.KeyAlgorithms() {
		if a != pki.Ed25519 {
			names = append(names, string(a))
		}
	}
	alg, err := pki.ParseKeyAlgorithm(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("unknown key algorithm %q: use one of %s", s, strings.Join(names, ", "))
	case alg == pki.Ed25519:
		return "", fmt.Errorf("key algorithm %s: Kubernetes components do not accept Ed25519 keys; use one of %s", alg, strings.Join(names, ", "))
	}
	return alg, nil
}
