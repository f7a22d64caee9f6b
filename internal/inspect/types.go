package inspect

import "time"

// APIVersion is the version of the JSON and YAML documents this package
// produces. Fields are added, never renamed or removed, within a version.
const APIVersion = "inspect.kubepki.io/v1alpha1"

// Kinds of the JSON and YAML documents.
const (
	ReportKind     = "InspectReport"
	LintReportKind = "LintReport"
	RuleListKind   = "LintRuleList"
)

// Report is the result of inspecting files: one [Item] per object found,
// in input order, and, for a manifest, the findings of checking its files
// together.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Manifest describes the manifest or kubelet configuration read with
	// [InspectManifest]; nil otherwise.
	Manifest *Manifest `json:"manifest,omitempty"`
	Items    []Item    `json:"items"`
	// Findings are the lint findings of a manifest's files; empty for plain
	// inspection.
	Findings []Finding `json:"findings,omitempty"`
}

// Item describes one object found in a file.
type Item struct {
	// Source is the file the object came from ("-" for standard input),
	// with "#N" appended for the Nth object of a multi-object file.
	Source string `json:"source"`
	// Reference is the manifest flag or field that named the file, such as
	// "--tls-cert-file"; empty outside manifests.
	Reference string `json:"reference,omitempty"`
	Kind      Kind   `json:"kind,omitempty"`
	// Error says why the file could not be read or parsed; the other
	// fields are then empty.
	Error       string       `json:"error,omitempty"`
	Certificate *Certificate `json:"certificate,omitempty"`
	CSR         *CSR         `json:"certificateRequest,omitempty"`
	Key         *Key         `json:"key,omitempty"`
	Kubeconfig  *Kubeconfig  `json:"kubeconfig,omitempty"`
	CSRObject   *CSRObject   `json:"certificateSigningRequest,omitempty"`
}

// CSRObject describes a certificates.k8s.io/v1 CertificateSigningRequest
// object: its spec, its state and the request and certificate it carries.
type CSRObject struct {
	Name              string   `json:"name"`
	SignerName        string   `json:"signerName"`
	Usages            []string `json:"usages,omitempty"`
	ExpirationSeconds *int32   `json:"expirationSeconds,omitempty"`
	// Condition is "Pending", "Approved", "Denied", "Failed" or
	// "Approved,Issued", as kubectl get csr shows it.
	Condition   string       `json:"condition"`
	Request     *CSR         `json:"request,omitempty"`
	Certificate *Certificate `json:"certificate,omitempty"`
	Error       string       `json:"error,omitempty"`
}

// Certificate is what inspection shows of an X.509 certificate: the fields
// `openssl x509 -text -noout` prints, then the Kubernetes reading.
type Certificate struct {
	Subject    string `json:"subject"`
	Issuer     string `json:"issuer"`
	SelfSigned bool   `json:"selfSigned"`
	// Serial is the serial number in colon-separated hex, as openssl shows it.
	Serial    string    `json:"serial"`
	Version   int       `json:"version"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Status is "valid", "expired" or "not yet valid" at the inspection time.
	Status string `json:"status"`
	// TimeLeft is the time until NotAfter ("364d 23h"), or "expired 3d ago".
	TimeLeft           string            `json:"timeLeft"`
	PublicKey          Key               `json:"publicKey"`
	SignatureAlgorithm string            `json:"signatureAlgorithm"`
	BasicConstraints   *BasicConstraints `json:"basicConstraints,omitempty"`
	// KeyUsage uses openssl's names ("Digital Signature", "Certificate Sign").
	KeyUsage         []string `json:"keyUsage,omitempty"`
	KeyUsageCritical bool     `json:"keyUsageCritical,omitempty"`
	// ExtKeyUsage uses the names of Kubernetes usages ("server auth",
	// "client auth") or the dotted OID for unknown ones.
	ExtKeyUsage    []string `json:"extKeyUsage,omitempty"`
	DNSNames       []string `json:"dnsNames,omitempty"`
	IPAddresses    []string `json:"ipAddresses,omitempty"`
	URIs           []string `json:"uris,omitempty"`
	EmailAddresses []string `json:"emailAddresses,omitempty"`
	SubjectKeyID   string   `json:"subjectKeyId,omitempty"`
	AuthorityKeyID string   `json:"authorityKeyId,omitempty"`
	// OtherExtensions lists the OIDs of extensions not shown above.
	OtherExtensions []string `json:"otherExtensions,omitempty"`
	// Role is the Kubernetes reading, e.g. "kube-apiserver serving certificate".
	Role string `json:"role"`
	// RoleID is a stable identifier of Role, e.g. "apiserver", "kubelet-client".
	RoleID   string   `json:"roleId"`
	Identity Identity `json:"identity"`
	// SignedBy is the file of the CA certificate, among the inspected
	// files, whose key signed this certificate; empty if none did.
	SignedBy string `json:"signedBy,omitempty"`
	// SHA256 is the fingerprint of the DER certificate, in hex.
	SHA256 string `json:"sha256"`
}

// BasicConstraints is the X.509 basic constraints extension.
type BasicConstraints struct {
	CA       bool `json:"ca"`
	Critical bool `json:"critical"`
	// MaxPathLen is set only when the certificate carries a path length.
	MaxPathLen *int `json:"maxPathLen,omitempty"`
}

// Identity is who a client certificate authenticates as to kube-apiserver:
// the subject's common name and organizations (k8s.io/apiserver's x509
// authenticator).
type Identity struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
}

// CSR is what inspection shows of a PKCS#10 certificate request.
type CSR struct {
	Subject            string   `json:"subject"`
	PEMType            string   `json:"pemType,omitempty"`
	PublicKey          Key      `json:"publicKey"`
	SignatureAlgorithm string   `json:"signatureAlgorithm"`
	SignatureValid     bool     `json:"signatureValid"`
	DNSNames           []string `json:"dnsNames,omitempty"`
	IPAddresses        []string `json:"ipAddresses,omitempty"`
	URIs               []string `json:"uris,omitempty"`
	EmailAddresses     []string `json:"emailAddresses,omitempty"`
	Identity           Identity `json:"identity"`
	Role               string   `json:"role"`
	RoleID             string   `json:"roleId"`
}

// Key holds the public facts of a key; never private material.
type Key struct {
	// Algorithm is "RSA", "ECDSA", "Ed25519" or "unknown".
	Algorithm string `json:"algorithm"`
	// Bits is the RSA modulus or curve size.
	Bits  int    `json:"bits,omitempty"`
	Curve string `json:"curve,omitempty"`
	// Private reports whether the file held a private key.
	Private bool `json:"private,omitempty"`
	// Encrypted reports whether the private key is password-protected.
	Encrypted bool   `json:"encrypted,omitempty"`
	Format    string `json:"format,omitempty"`
	// Mode is the file's permission bits in octal ("0600"), for key files.
	Mode string `json:"mode,omitempty"`
	// SHA256 is the fingerprint of the PKIX public key, in hex.
	SHA256 string `json:"publicKeySHA256,omitempty"`
	// Matches is the certificate file, among the inspected files, whose
	// public key this key is.
	Matches string `json:"matches,omitempty"`
}

// Kubeconfig describes a kubeconfig file: its clusters with their CA
// certificates and its users with their client certificates.
type Kubeconfig struct {
	CurrentContext string              `json:"currentContext,omitempty"`
	Clusters       []KubeconfigCluster `json:"clusters,omitempty"`
	Users          []KubeconfigUser    `json:"users,omitempty"`
	Contexts       []KubeconfigContext `json:"contexts,omitempty"`
}

// KubeconfigCluster is one clusters[] entry.
type KubeconfigCluster struct {
	Name   string `json:"name"`
	Server string `json:"server"`
	// CAFile is certificate-authority, CA the parsed certificates of the
	// data or the file.
	CAFile             string        `json:"certificateAuthority,omitempty"`
	CAData             bool          `json:"certificateAuthorityData,omitempty"`
	InsecureSkipVerify bool          `json:"insecureSkipTLSVerify,omitempty"`
	CA                 []Certificate `json:"ca,omitempty"`
	Error              string        `json:"error,omitempty"`
}

// KubeconfigUser is one users[] entry. Credentials are never shown; only
// what kind of credential is present and the client certificate.
type KubeconfigUser struct {
	Name string `json:"name"`
	// Auth lists the credential kinds present: "client-certificate",
	// "client-certificate-data", "token", "exec", "auth-provider",
	// "basic-auth".
	Auth        []string     `json:"auth,omitempty"`
	Certificate *Certificate `json:"certificate,omitempty"`
	Key         *Key         `json:"key,omitempty"`
	// KeyMatches reports whether the client key is the certificate's.
	KeyMatches *bool  `json:"keyMatches,omitempty"`
	Error      string `json:"error,omitempty"`
}

// KubeconfigContext is one contexts[] entry.
type KubeconfigContext struct {
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
}
