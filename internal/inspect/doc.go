// Package inspect describes certificates, certificate requests, keys and
// kubeconfig files for people and scripts, gives each the Kubernetes reading
// of what it is for (cluster CA, kube-apiserver serving certificate, kubelet
// client certificate for a node, …), and checks them against a catalogue of
// lint rules drawn from the mistakes that break real clusters.
//
// The package only reads: it never changes a file, and it never reports
// private key material beyond the public facts of a key (algorithm, size,
// whether it matches a certificate). It does not log.
//
// Text output escapes control characters in every value taken from an input
// file, so that a crafted subject cannot rewrite the terminal.
package inspect
