// Package pki is kubepki's crypto core: private keys in every common
// encoding, PEM and DER parsing of certificates and certificate requests,
// CSR creation, a CA type that signs, serial numbers, chain verification and
// the one safe way to write key material to disk.
//
// It knows nothing about Kubernetes names; internal/cluster and
// internal/certificates build on it. Private keys travel as crypto.Signer
// so that signing code never needs the key type.
//
// Defaults follow kubeadm (cmd/kubeadm/app/constants): certificates are
// back-dated by [Backdate] for clock skew, leaves live [DefaultValidity] and
// CAs [DefaultCAValidity]. Serial numbers carry 128 random bits, more than
// the 64 that the CA/Browser Forum baseline asks for.
package pki
