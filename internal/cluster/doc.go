// Package cluster is the cluster plan of kubepki: kubeadm's table of
// certificate authorities, leaf certificates and kubeconfig files, held as
// data (as kubeadm's certlist.go does), and the operations that derive from
// that one table: [Init] creates or verifies every file, [Renew] re-issues
// certificates in place, [CheckExpiration] reports what expires when,
// [IssueNodes] and [IssueUser] add credentials for nodes and users, and
// [ComponentFlags] prints the flags that make each component use the files.
//
// File names, subjects, usages, SANs, validity and modes are kubeadm's
// (Kubernetes v1.31+, kubeadm.k8s.io/v1beta4), so that a kubeadm cluster's
// /etc/kubernetes can be checked and renewed by kubepki and the other way
// round. The one deliberate difference is the default key algorithm,
// ECDSA P-256 instead of kubeadm's RSA-2048; set [Options.KeyAlgorithm] to
// [pki.RSA2048] for kubeadm's.
//
// Every multi-file change is staged: all inputs are checked first; then,
// as each certificate is made, its files are written to temporary files
// next to their targets (or, in a folder that does not exist yet, into a
// temporary copy of the new folder tree), all are made durable with one
// sync, a commit record (.kubepki-commit.json in the certificate folder) is
// written, the temporary files and trees are renamed into place and the
// record is removed. An error part-way restores every file and folder
// touched, so the folders are left as they were found; a crash during the
// renames is completed from the record by the next Init, Renew or issue,
// so a key never stays paired with a certificate of another run. Symbolic
// links are never followed or replaced. The package does not log; it
// returns results and errors.
package cluster
