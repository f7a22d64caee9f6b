package cluster

import (
	"os"
	"strings"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
)

// Defaults, valued as kubeadm's (cmd/kubeadm/app/constants and
// kubeadm.k8s.io/v1beta4 defaults).
const (
	// DefaultCertDir is where certificates and keys go.
	DefaultCertDir = "/etc/kubernetes/pki"
	// DefaultKubeconfigDir is where the *.conf kubeconfig files go.
	DefaultKubeconfigDir = "/etc/kubernetes"
	// DefaultBindPort is the API server's secure port.
	DefaultBindPort = 6443
	// DefaultServiceCIDR is the service subnet; its first address is an
	// API server IP SAN.
	DefaultServiceCIDR = "10.96.0.0/12"
	// DefaultDNSDomain is the cluster DNS domain.
	DefaultDNSDomain = "cluster.local"
	// DefaultClusterName names the cluster entry in kubeconfig files.
	DefaultClusterName = "kubernetes"
	// DefaultCertValidity is the lifetime of leaf certificates.
	DefaultCertValidity = 365 * 24 * time.Hour
	// DefaultCAValidity is the lifetime of CA certificates.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// MinValidity is the shortest lifetime of a certificate or CA that
	// init and renew issue, as kubepki sign's minimum and the
	// Certificates API's (spec.expirationSeconds ≥ 600): anything
	// shorter expires before the components have even restarted with it.
	MinValidity = 10 * time.Minute
	// Backdate is how far before the run's start time every certificate
	// becomes valid, to allow for clock skew (kubeadm's
	// CertificateBackdate).
	Backdate = 5 * time.Minute
)

// Options says where the cluster's files go and what goes into them. The
// zero value is not useful; start from [DefaultOptions] and change fields.
// Every field maps to the kubeadm setting or flag of the same meaning.
type Options struct {
	// CertDir is the folder of certificates and keys (kubeadm
	// certificatesDir, --cert-dir). Folders created in it are 0700.
	CertDir string
	// KubeconfigDir is the folder of the kubeconfig files (--kubeconfig-dir).
	// It is created 0755 if missing; the files in it are 0600.
	KubeconfigDir string

	// NodeName is the control-plane node this PKI is made on: the etcd
	// server and peer CN, a DNS SAN of apiserver and etcd, and the identity
	// system:node:<NodeName> of kubelet.conf. It must be a lower-case
	// DNS-1123 subdomain. Empty means the lower-cased host name.
	NodeName string
	// AdvertiseAddress is the IP the API server advertises: an IP SAN of
	// apiserver, etcd-server and etcd-peer and the host of the node-local
	// kubeconfig server URLs. Empty means the first global unicast address
	// of this machine.
	AdvertiseAddress string
	// BindPort is the API server's port in server URLs; 0 means 6443.
	BindPort int
	// ControlPlaneEndpoint is an optional shared host[:port] for all
	// control-plane nodes. When set it is an apiserver SAN and the server
	// of admin.conf and super-admin.conf.
	ControlPlaneEndpoint string
	// APIServerCertSANs are extra apiserver SANs: IPs become IP SANs,
	// DNS names (wildcards allowed) DNS SANs; anything else is an error.
	APIServerCertSANs []string
	// ServiceCIDR is the service subnet, or a comma-separated list; the
	// first address of the first one is an apiserver IP SAN.
	ServiceCIDR string
	// DNSDomain is the cluster DNS domain in kubernetes.default.svc.<domain>.
	DNSDomain string
	// ClusterName names the cluster in every kubeconfig file.
	ClusterName string

	// KeyAlgorithm is the type of every key generated; "" means
	// [pki.DefaultKeyAlgorithm].
	KeyAlgorithm pki.KeyAlgorithm
	// CertValidity is the lifetime of leaf certificates; 0 means
	// [DefaultCertValidity]. It must be at least [MinValidity] and not
	// longer than CAValidity.
	CertValidity time.Duration
	// CAValidity is the lifetime of CA certificates; 0 means
	// [DefaultCAValidity]. It must be at least [MinValidity].
	CAValidity time.Duration
	// Now is the clock; nil means time.Now. It is read once per run, and
	// that start time dates every certificate of the run.
	Now func() time.Time
	// Force replaces existing files that do not match the plan instead of
	// failing. Files that match are never replaced.
	Force bool
	// Progress, when set, is called after each key and certificate is
	// made, with how many of the run's total are done; calls never overlap.
	// Commands set it to show progress on a terminal.
	Progress func(done, total int)

	// ControlPlaneNodes are further control-plane nodes (from a cluster
	// file) besides NodeName: their names and addresses are added to the
	// apiserver, etcd-server and etcd-peer SANs, and each gets kubelet
	// credentials like a worker.
	ControlPlaneNodes []Node
	// WorkerNodes each get a kubelet serving certificate, a kubelet client
	// certificate and a kubelet kubeconfig (see [NodePaths]).
	WorkerNodes []Node
	// Users each get a client certificate and kubeconfig (see [UserPaths]).
	Users []User
	// KubeProxy adds kube-proxy's client certificate and kubeconfig.
	KubeProxy bool
}

// Node is a Kubernetes node that gets kubelet credentials.
type Node struct {
	// Name is the node name: lower-case DNS-1123 subdomain. The kubelet
	// client certificate's CN is system:node:<Name>.
	Name string `json:"name"`
	// IPs are the node's addresses, IP SANs of the serving certificate.
	IPs []string `json:"ips,omitempty"`
	// DNSNames are further DNS SANs of the serving certificate, besides
	// Name.
	DNSNames []string `json:"dnsNames,omitempty"`
}

// User is a person or program that gets a client certificate and a
// kubeconfig.
type User struct {
	// Name is the user name, the certificate's CN.
	Name string `json:"name"`
	// Groups are the user's groups, the certificate's O entries.
	Groups []string `json:"groups,omitempty"`
}

// DefaultOptions returns kubeadm's defaults: /etc/kubernetes/pki and
// /etc/kubernetes, port 6443, service CIDR 10.96.0.0/12, domain
// cluster.local, cluster name kubernetes, the lower-cased host name as node
// name, ECDSA P-256 keys, 1 year leaves and 10 year CAs. AdvertiseAddress
// is left empty and resolved when the plan is made.
func DefaultOptions() Options {
	host, _ := os.Hostname()
	return Options{
		CertDir:       DefaultCertDir,
		KubeconfigDir: DefaultKubeconfigDir,
		NodeName:      strings.ToLower(host),
		BindPort:      DefaultBindPort,
		ServiceCIDR:   DefaultServiceCIDR,
		DNSDomain:     DefaultDNSDomain,
		ClusterName:   DefaultClusterName,
		KeyAlgorithm:  pki.DefaultKeyAlgorithm,
		CertValidity:  DefaultCertValidity,
		CAValidity:    DefaultCAValidity,
	}
}

// GCPercent is the garbage collector setting (GOGC) for a process whose
// work is mostly a run of this package, as the kubepki commands init and
// certs renew set it unless GOGC is given: a run allocates much
// short-lived encoding garbage (x509, PEM, YAML) against a small live
// heap, and collecting a quarter as often makes bulk issuance about 15%
// faster for a few megabytes more memory (docs/PERFORMANCE.md).
const GCPercent = 400
