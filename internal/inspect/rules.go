package inspect

import "slices"

// Severity is how bad a finding is: an error breaks something (a component
// fails to authenticate, verify or start), a warning is a security or
// robustness issue (kubernetes-pki.md §8).
type Severity string

// The severities, from worst.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Rule is one entry of the lint catalogue.
type Rule struct {
	// ID is stable; L01–L35 are the rows of kubernetes-pki.md §8 with the
	// same number, L36 and up refine them.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Summary is a one-line explanation of what is wrong.
	Summary string `json:"summary"`
	// Fix says what to do about it.
	Fix string `json:"fix"`
}

// Rule IDs.
const (
	RuleUnreadable            = "L00"
	RuleNodeName              = "L01"
	RuleNodeGroup             = "L02"
	RuleNodeMismatch          = "L03"
	RuleUsageRole             = "L04"
	RuleCSRObjectSigner       = "L05"
	RuleCSRObjectLegacySigner = "L06"
	RuleCSRObjectUsages       = "L07"
	RuleCSRObjectSignerPolicy = "L08"
	RuleCSRObjectExpiration   = "L09"
	RuleCSRPEMType            = "L10"
	RuleCSRObjectEncoding     = "L11"
	RuleCSRObjectMasters      = "L12"
	RuleMasters               = "L13"
	RuleAPIServerDefaultNames = "L14"
	RuleAPIServerAddress      = "L15"
	RuleNoSANs                = "L16"
	RuleIPInDNS               = "L17"
	RuleEtcdLocal             = "L18"
	RuleEtcdUsages            = "L19"
	RuleSelfSignedLeaf        = "L20"
	RuleWrongCA               = "L21"
	RuleKeyMismatch           = "L22"
	RuleCANotCA               = "L23"
	RuleLeafNoConstraints     = "L24"
	RuleLeafIsCA              = "L25"
	RuleValidity              = "L27"
	RuleFrontProxyCA          = "L28"
	RuleWeakCrypto            = "L29"
	RuleSerial                = "L30"
	RuleKubeconfigBoth        = "L31"
	RuleKubeconfigMissingFile = "L32"
	RuleKubeletClientGroup    = "L33"
	RuleExpiringSoon          = "L36"
	RuleOutlivesCA            = "L37"
	RuleDuplicateSerial       = "L38"
	RuleKeyMode               = "L39"
	RuleCANoKeyUsage          = "L40"
	RuleCSRObjectInvalid      = "L41"
	RuleMissingPair           = "L42"
	RulePublicKeyMismatch     = "L43"
	RuleDNSName               = "L44"
	RuleEd25519CA             = "L45"
	RuleKeyUsageForKey        = "L46"
	RuleKubeconfigWrongCA     = "L47"
	RuleCSRSubject            = "L48"
)

var rules = []Rule{
	{RuleUnreadable, SeverityError, "a file cannot be read or parsed: unreadable, empty, not PEM, a truncated or malformed PEM block, a block that does not parse, or not what its name says (a key in a .crt file); in a folder this covers kubeadm's file names and every *.crt, *.key, *.pem, *.pub and *.csr file, and other files are skipped", "restore the file from a backup (tmp/kubepki-backup-*), or replace it with a valid PEM certificate, key, request or kubeconfig, or remove it"},
	{RuleNodeName, SeverityError, "a node identity is not in the exact lower-case form system:node:<name>; the Node authorizer ignores it and the kubelet gets 403", "reissue the kubelet certificate with CN=system:node:<node name>, all lower case, the node name a DNS-1123 subdomain"},
	{RuleNodeGroup, SeverityError, "a node certificate's organizations are not exactly [system:nodes]", "reissue the kubelet certificate with O=system:nodes and no other O"},
	{RuleNodeMismatch, SeverityError, "the node name in a kubelet certificate is not the expected node name", "reissue the certificate for the node's registered name (lower-cased hostname or --hostname-override)"},
	{RuleUsageRole, SeverityError, "extended key usages do not fit the role: server auth on a client certificate, no client auth on a client certificate, or no server auth on a serving certificate", "reissue with extendedKeyUsage=clientAuth for client certificates and serverAuth for serving certificates"},
	{RuleCSRObjectSigner, SeverityError, "a CertificateSigningRequest object has no spec.signerName, which certificates.k8s.io/v1 requires", "set spec.signerName, e.g. kubernetes.io/kube-apiserver-client for a user"},
	{RuleCSRObjectLegacySigner, SeverityError, "a CertificateSigningRequest object asks for kubernetes.io/legacy-unknown, which the v1 API refuses", "choose a real signer such as kubernetes.io/kube-apiserver-client"},
	{RuleCSRObjectUsages, SeverityError, "a CertificateSigningRequest object's usages are missing, misspelled (client-auth, clientAuth) or duplicated", `use the exact names "digital signature", "key encipherment", "client auth", "server auth"`},
	{RuleCSRObjectSignerPolicy, SeverityError, "a CertificateSigningRequest object for a built-in signer is not what the signer issues (usages, subject, SANs); it is left unapproved or Failed", "match the signer's rules: kubelet client CSRs CN=system:node:<name>, O=system:nodes, client auth, no SANs; kubelet serving CSRs server auth with DNS or IP SANs"},
	{RuleCSRObjectExpiration, SeverityError, "a CertificateSigningRequest object's spec.expirationSeconds is under 600", "ask for at least 600 seconds, or leave expirationSeconds out"},
	{RuleCSRPEMType, SeverityError, `a certificate request's PEM block is not of type "CERTIFICATE REQUEST" (openssl -newhdr writes "NEW CERTIFICATE REQUEST"), which the Certificates API refuses`, `recreate the request without -newhdr, or change the PEM header to "CERTIFICATE REQUEST"`},
	{RuleCSRObjectEncoding, SeverityError, "a CertificateSigningRequest object's spec.request is not base64 of the PEM request (raw PEM pasted in, or base64 wrapped with spaces)", "set spec.request to $(base64 -w0 < request.csr)"},
	{RuleCSRObjectMasters, SeverityError, "a CertificateSigningRequest object for kubernetes.io/kube-apiserver-client asks for group system:masters, which admission forbids", "ask for a group bound by RBAC instead of system:masters"},
	{RuleMasters, SeverityWarning, "a certificate other than super-admin's carries group system:masters, a superuser that RBAC cannot restrict and a certificate cannot be revoked from", "use a group bound by RBAC such as kubeadm:cluster-admins; keep system:masters to super-admin.conf"},
	{RuleAPIServerDefaultNames, SeverityError, "the kube-apiserver certificate lacks a name in-cluster clients dial: kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.<dns domain> or the first service IP", "if the cluster's service CIDR or DNS domain is not kubeadm's default, pass them to lint (--service-cidr, --service-dns-domain); otherwise move apiserver.crt and apiserver.key aside and rerun kubepki init with the cluster's --service-cidr, --service-dns-domain and --apiserver-cert-extra-sans (or its --config), which makes them again from the same CA with every default name (certs renew keeps the names a certificate has)"},
	{RuleAPIServerAddress, SeverityError, "the kube-apiserver certificate lacks an address clients dial: the advertise address, the control-plane endpoint or a kubeconfig's server", "reissue apiserver.crt with the address in its SANs (--apiserver-cert-extra-sans)"},
	{RuleNoSANs, SeverityError, "a serving certificate has no DNS or IP subject alternative name; Go ignores the common name for host names", "reissue with subjectAltName=DNS:<name>,IP:<address>"},
	{RuleIPInDNS, SeverityError, "an IP address is in a DNS SAN, where it never matches an IP host", "put addresses in IP SANs (IP:10.0.0.1), not DNS SANs"},
	{RuleEtcdLocal, SeverityError, "the etcd server certificate lacks localhost or 127.0.0.1, which kube-apiserver and etcd itself dial", "reissue etcd/server.crt with DNS:localhost and IP:127.0.0.1"},
	{RuleEtcdUsages, SeverityError, "an etcd server or peer certificate lacks server auth or client auth; etcd uses both", "reissue with extendedKeyUsage=serverAuth,clientAuth"},
	{RuleSelfSignedLeaf, SeverityError, "a leaf certificate is self-signed (openssl x509 -req -signkey instead of -CA/-CAkey) and chains to no cluster CA", "sign the request with the CA: openssl x509 -req -CA ca.crt -CAkey ca.key"},
	{RuleWrongCA, SeverityError, "a certificate does not chain to the CA in its folder that its role requires", "reissue the certificate from the right CA (the cluster CA, front-proxy-ca or etcd/ca)"},
	{RuleKeyMismatch, SeverityError, "a private key does not match its certificate; the TLS handshake fails", "restore the key that belongs to the certificate, or reissue the certificate for this key"},
	{RuleCANotCA, SeverityError, "a CA certificate lacks basic constraints CA:TRUE or key usage Certificate Sign; Go refuses it as an issuer", "recreate the CA with basicConstraints=critical,CA:TRUE and keyUsage=critical,keyCertSign"},
	{RuleLeafNoConstraints, SeverityWarning, "a leaf certificate has no basic constraints CA:FALSE (a v1 certificate when openssl x509 -req ran without -extfile)", "reissue with an extension file holding basicConstraints=critical,CA:FALSE"},
	{RuleLeafIsCA, SeverityError, "a leaf certificate signed by a CA has CA:TRUE and can mint certificates for any identity, or a kubeadm leaf file (apiserver.crt) holds a CA certificate", "reissue with basicConstraints=critical,CA:FALSE"},
	{RuleValidity, SeverityError, "a certificate is expired or not yet valid", "renew it from the same CA with kubepki certs renew NAME, NAME its row in kubepki certs check-expiration (apiserver, admin.conf …); renew leaves kubelet.conf to the kubelet: turn on its client-certificate rotation (rotateCertificates: true), or move kubelet.conf aside and rerun kubepki init, which makes it again; or check the clock"},
	{RuleFrontProxyCA, SeverityWarning, "the front-proxy client certificate is signed by the cluster CA, collapsing request-header trust into client-certificate trust", "issue front-proxy-client.crt from a separate front-proxy-ca"},
	{RuleWeakCrypto, SeverityError, "a certificate, request or key uses a SHA-1 or MD5 signature or an RSA key under 2048 bits", "reissue with an ECDSA P-256 or RSA 2048+ key and SHA-256"},
	{RuleSerial, SeverityWarning, "a serial number is not positive, longer than 20 octets, or has little entropy (under 40 bits, e.g. openssl -set_serial 01)", "reissue with a random serial (openssl -CAcreateserial or kubepki)"},
	{RuleKubeconfigBoth, SeverityError, "a kubeconfig has both a file path and inline data for one credential (client-certificate and client-certificate-data, client-key and client-key-data, certificate-authority and certificate-authority-data); kubectl and client-go refuse the context (\"client-cert-data and client-cert are both specified\")", "keep either client-certificate or client-certificate-data (likewise key and CA): delete the path line to keep the data, or embed the file instead with kubepki config set-credentials USER --client-certificate FILE --embed-certs (set-cluster CLUSTER --certificate-authority FILE --embed-certs for a CA)"},
	{RuleKubeconfigMissingFile, SeverityError, "a kubeconfig names a certificate, key or CA file that cannot be read (relative paths resolve from the kubeconfig's directory)", "fix the path, or embed the data: kubepki config set-credentials USER --client-certificate FILE --client-key FILE --embed-certs for a user's files, kubepki config set-cluster CLUSTER --certificate-authority FILE --embed-certs for a cluster's CA"},
	{RuleKubeletClientGroup, SeverityError, "the apiserver-kubelet-client certificate carries no group authorised for the kubelet API, so kubectl logs and exec fail with 403", "reissue apiserver-kubelet-client.crt with O=kubeadm:cluster-admins"},
	{RuleExpiringSoon, SeverityWarning, "a certificate expires within --warn-within", "renew the certificate (kubepki certs renew)"},
	{RuleOutlivesCA, SeverityWarning, "a certificate is valid past the expiry of the CA that signed it", "renew the CA before it expires, or reissue the certificate capped at the CA's expiry"},
	{RuleDuplicateSerial, SeverityError, "two different certificates from one CA share a serial number", "reissue one of them with a random serial"},
	{RuleKeyMode, SeverityWarning, "a private key (or a kubeconfig holding one) is readable by group or others", "chmod 600 the file"},
	{RuleCANoKeyUsage, SeverityWarning, "a CA certificate has no key usage extension (RFC 5280 §4.2.1.3 requires Certificate Sign)", "recreate the CA with keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign"},
	{RuleCSRObjectInvalid, SeverityError, "a CertificateSigningRequest object fails the API's other validation (name, request, conditions)", "fix the field the message names"},
	{RuleMissingPair, SeverityError, "one half of a kubeadm certificate and key pair is missing in a folder checked (apiserver.key without apiserver.crt, etcd/peer.crt without etcd/peer.key, sa.key without sa.pub, a CA key without its certificate; a CA certificate or sa.pub alone is fine); the component that loads the pair does not start", "restore the missing file from a backup (tmp/kubepki-backup-*); a missing sa.pub is made again from sa.key by rerunning kubepki init (keep sa.key: a new one invalidates every service-account token); for a leaf certificate, move the other half aside and rerun kubepki init, which makes the pair again; a CA key without its certificate needs the certificate back, since a new CA invalidates everything the old one signed"},
	{RulePublicKeyMismatch, SeverityError, "a public key file is not the public half of the private key it pairs with (sa.pub and sa.key, or the --service-account-key-file and --service-account-signing-key-file of kube-apiserver); kube-apiserver then rejects every service-account token it issued, and every pod gets 401", "restore both files from a backup (tmp/kubepki-backup-*); or, if the private key is the one in use, write its public half: openssl pkey -in sa.key -pubout -out sa.pub, mode 0600 (a new sa.key would invalidate every token issued)"},
	{RuleDNSName, SeverityWarning, "a DNS subject alternative name is not a valid DNS name (RFC 5280 §4.2.1.6: letters, digits and hyphens in dot-separated labels, a wildcard only as a whole leftmost label); it never matches a host, and strict verifiers refuse the certificate", "reissue the certificate with valid DNS names only; a CA whose common name is no DNS name (\"Example Corp CA\") needs no DNS SAN at all"},
	{RuleEd25519CA, SeverityWarning, "a CA has an Ed25519 key: kubeadm never makes one and refuses to load Ed25519 keys (certs renew, join), and TLS clients without Ed25519 support (browsers, older Java and OpenSSL before 1.1.1) cannot verify what it signs", "recreate the CA with an ECDSA P-256 or RSA 2048+ key (kubepki init --key-algorithm ecdsa-p256) and reissue what it signed"},
	{RuleKeyUsageForKey, SeverityWarning, "a certificate for an Ed25519 key has key usage Key Encipherment, which RFC 8410 §5 forbids (an Ed25519 key only signs: Digital Signature, Non Repudiation, Certificate Sign, CRL Sign); strict verifiers refuse it", "reissue the certificate without keyEncipherment: keyUsage=critical,digitalSignature,keyCertSign for a CA, usages \"digital signature\" and \"client auth\" or \"server auth\" for a leaf; or use an ECDSA P-256 key, which kubeadm's usages fit"},
	{RuleKubeconfigWrongCA, SeverityError, "a kubeconfig's certificate-authority is another CA of the cluster (front-proxy-ca, etcd/ca) than the cluster CA that signed its client certificate; the client cannot verify kube-apiserver (x509: certificate signed by unknown authority)", "rewrite the kubeconfig's CA data: kubepki certs renew NAME.conf for kubeadm's kubeconfig files, or kubectl --kubeconfig FILE config set-cluster CLUSTER --certificate-authority pki/ca.crt --embed-certs"},
	{RuleCSRSubject, SeverityError, "a certificate request's subject has more than one common name (Go reads the last, people the first) or a name with control characters; the Certificates API and kubepki sign refuse it", "recreate the request with one CN and printable names: openssl req -new -key KEY -subj \"/CN=name/O=group\""},
}

// Rules returns the lint catalogue, ordered by ID.
func Rules() []Rule {
	return slices.Clone(rules)
}

// ruleByID returns the rule with id; it panics on an unknown ID, which is a
// programming error.
func ruleByID(id string) Rule {
	for _, r := range rules {
		if r.ID == id {
			return r
		}
	}
	panic("inspect: unknown lint rule " + id)
}
