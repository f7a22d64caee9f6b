// Package certificates is kubepki's CertificateSigningRequest domain: the
// Kubernetes validation rules for certificates.k8s.io/v1 objects and their
// updates, what each endpoint (create, update, approval, status) may change,
// the parsing policy for the PKCS#10 request a CSR carries, the mapping of
// spec.usages to X.509 key usages, the policies of the built-in signers, the
// auto-approval policy, and the condition helpers.
//
// The rules follow kube-apiserver's registry strategy and validation
// (pkg/registry/certificates, pkg/apis/certificates/validation) and
// kube-controller-manager's csrsigning and csrapproving controllers, with a
// stricter request policy where docs/security calls for one (key and
// signature algorithms, one CN, no control characters, size caps). The
// package does no I/O and does not log; every function is safe for
// concurrent use.
package certificates
