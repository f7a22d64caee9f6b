package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kubepki/kubepki/internal/pki"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The apiVersion and kind of a cluster file.
const (
	ClusterFileAPIVersion = "kubepki.io/v1alpha1"
	ClusterFileKind       = "Cluster"
)

// maxClusterFile bounds the size of a cluster file.
const maxClusterFile = 1 << 20

// ClusterFile is the declarative description of a whole cluster read by
// "kubepki init --config" (docs/cluster-config.md). Field names follow
// kubeadm's ClusterConfiguration where one exists. Unknown fields are
// errors.
type ClusterFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// ClusterName names the cluster in kubeconfig files.
	ClusterName string `json:"clusterName,omitempty"`
	// ControlPlaneEndpoint is the shared host[:port] of the API servers.
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint,omitempty"`
	// BindPort is the API servers' port.
	BindPort int `json:"bindPort,omitempty"`
	// ServiceCIDR is the service subnet (serviceSubnet in kubeadm).
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// DNSDomain is the cluster DNS domain.
	DNSDomain string `json:"dnsDomain,omitempty"`
	// APIServerCertSANs are extra apiserver SANs.
	APIServerCertSANs []string `json:"apiServerCertSANs,omitempty"`
	// KeyAlgorithm is kubepki's or kubeadm's algorithm name
	// ("ecdsa-p256", "RSA-2048").
	KeyAlgorithm string `json:"keyAlgorithm,omitempty"`
	// CertValidity and CAValidity are durations such as "8760h".
	CertValidity *metav1.Duration `json:"certValidity,omitempty"`
	CAValidity   *metav1.Duration `json:"caValidity,omitempty"`

	// ControlPlaneNodes are the control-plane nodes; the first is the one
	// the kubeadm files are made for, and must have an IP (its advertise
	// address). There must be at least one.
	ControlPlaneNodes []Node `json:"controlPlaneNodes"`
	// WorkerNodes are the other nodes.
	WorkerNodes []Node `json:"workerNodes,omitempty"`
	// Users are extra users, each with a client certificate and kubeconfig.
	Users []User `json:"users,omitempty"`
	// KubeProxy makes kube-proxy's client certificate and kubeconfig;
	// absent means true.
	KubeProxy *bool `json:"kubeProxy,omitempty"`
}

// ParseClusterFile decodes a cluster file from YAML (or JSON) strictly:
// unknown or duplicate fields, a wrong apiVersion or kind, or no
// control-plane node are errors, each reported at once. A kubeadm
// configuration file (apiVersion kubeadm.k8s.io/*) is refused with
// [ErrKubeadmConfig] and the fields that correspond.
func ParseClusterFile(data []byte) (*ClusterFile, error) {
	if len(data) > maxClusterFile {
		return nil, fmt.Errorf("cluster file is %d bytes, more than the %d allowed", len(data), maxClusterFile)
	}
	if apiVersion, kind, ok := kubeadmConfig(data); ok {
		return nil, fmt.Errorf("%w (apiVersion %s, kind %s): kubepki reads its own cluster file, apiVersion %s, kind %s (docs/cluster-config.md). "+
			"Write one with the same settings (networking.serviceSubnet is serviceCIDR, networking.dnsDomain dnsDomain, controlPlaneEndpoint, "+
			"apiServer.certSANs apiServerCertSANs, nodeRegistration.name and localAPIEndpoint.advertiseAddress the name and first ip of controlPlaneNodes[0], "+
			"encryptionAlgorithm keyAlgorithm, certificateValidityPeriod and caCertificateValidityPeriod certValidity and caValidity), "+
			"or give them as flags (--service-cidr, --service-dns-domain, --control-plane-endpoint, --apiserver-cert-extra-sans, --node-name, --advertise-address, --key-algorithm, --cert-validity, --ca-validity)",
			ErrKubeadmConfig, apiVersion, kind, ClusterFileAPIVersion, ClusterFileKind)
	}
	var f ClusterFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("decode cluster file: %w", err)
	}
	var problems []string
	if f.APIVersion != ClusterFileAPIVersion || f.Kind != ClusterFileKind {
		problems = append(problems, fmt.Sprintf("apiVersion/kind is %q/%q, want %q/%q", f.APIVersion, f.Kind, ClusterFileAPIVersion, ClusterFileKind))
	}
	if len(f.ControlPlaneNodes) == 0 {
		problems = append(problems, "controlPlaneNodes is empty: list at least the first control-plane node with its name and IP")
	} else if len(f.ControlPlaneNodes[0].IPs) == 0 {
		problems = append(problems, fmt.Sprintf("control-plane node %q has no ips: the first IP is its advertise address", f.ControlPlaneNodes[0].Name))
	}
	for _, group := range [][]Node{f.ControlPlaneNodes, f.WorkerNodes} {
		for _, n := range group {
			if err := validateNode(n); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	for _, u := range f.Users {
		if err := ValidateUserName(u.Name); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if f.KeyAlgorithm != "" {
		if _, err := ParseKeyAlgorithm(f.KeyAlgorithm); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("invalid cluster file: " + strings.Join(problems, "; "))
	}
	return &f, nil
}

// ReadClusterFile reads and parses the cluster file at path.
func ReadClusterFile(path string) (*ClusterFile, error) {
	data, err := pki.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster file: %w", err)
	}
	f, err := ParseClusterFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Apply sets the fields of o that f gives. The first control-plane node
// becomes NodeName and its first IP AdvertiseAddress; every node gets
// kubelet credentials. Folders, clock and Force are left alone.
func (f *ClusterFile) Apply(o *Options) {
	if f.ClusterName != "" {
		o.ClusterName = f.ClusterName
	}
	if f.ControlPlaneEndpoint != "" {
		o.ControlPlaneEndpoint = f.ControlPlaneEndpoint
	}
	if f.BindPort != 0 {
		o.BindPort = f.BindPort
	}
	if f.ServiceCIDR != "" {
		o.ServiceCIDR = f.ServiceCIDR
	}
	if f.DNSDomain != "" {
		o.DNSDomain = f.DNSDomain
	}
	o.APIServerCertSANs = append(o.APIServerCertSANs, f.APIServerCertSANs...)
	if f.KeyAlgorithm != "" {
		alg, _ := pki.ParseKeyAlgorithm(f.KeyAlgorithm) // checked by ParseClusterFile
		o.KeyAlgorithm = alg
	}
	if f.CertValidity != nil {
		o.CertValidity = f.CertValidity.Duration
	}
	if f.CAValidity != nil {
		o.CAValidity = f.CAValidity.Duration
	}
	if len(f.ControlPlaneNodes) > 0 {
		first := f.ControlPlaneNodes[0]
		o.NodeName = first.Name
		if len(first.IPs) > 0 {
			o.AdvertiseAddress = first.IPs[0]
		}
	}
	o.ControlPlaneNodes = f.ControlPlaneNodes
	o.WorkerNodes = f.WorkerNodes
	o.Users = f.Users
	o.KubeProxy = f.KubeProxy == nil || *f.KubeProxy
}

// kubeadmAPIVersion matches the apiVersion line of a kubeadm configuration
// document (InitConfiguration, ClusterConfiguration …, any version),
// kindLine a kind line, and documentSeparator the line between the
// documents of a YAML stream.
var (
	kubeadmAPIVersion = regexp.MustCompile(`(?m)^apiVersion:[ \t]*["']?(kubeadm\.k8s\.io/[A-Za-z0-9]+)`)
	kindLine          = regexp.MustCompile(`(?m)^kind:[ \t]*["']?([A-Za-z]+)`)
	documentSeparator = regexp.MustCompile(`(?m)^---`)
)

// kubeadmConfig reports whether data is a kubeadm configuration file, with
// the apiVersion and kind of its first kubeadm document. It only looks at
// top-level lines: kubeadm's files are YAML with a document per kind; a
// kubeadm document given as JSON falls through to the strict decoding,
// which names the unknown fields.
func kubeadmConfig(data []byte) (apiVersion, kind string, ok bool) {
	for _, doc := range documentSeparator.Split(string(data), -1) {
		m := kubeadmAPIVersion.FindStringSubmatch(doc)
		if m == nil {
			continue
		}
		kind = "?"
		if k := kindLine.FindStringSubmatch(doc); k != nil {
			kind = k[1]
		}
		return m[1], kind, true
	}
	return "", "", false
}
