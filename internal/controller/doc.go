// Package controller runs kubepki's long-running loops over the
// Certificates API, the work kube-controller-manager does for a cluster:
// the signer (signs approved CSRs for the built-in signers), the
// auto-approver (approves kubelet client CSRs, and kubelet serving CSRs
// that match a node inventory), and the cleaner (deletes old CSRs on
// Kubernetes' schedule).
//
// The loops talk to the API only through client-go's typed
// CertificateSigningRequest interface, so they run against kubepki's own
// server or any Kubernetes API server. They work from a watch (client-go's
// informer: list, watch, relist on 410 Gone, periodic resync) feeding
// rate-limited work queues. With an [Elector] they run only while this
// process leads.
//
// Issuance is at most once per CSR: before the CA key is used, the signer
// reserves the CSR with a condition written through the status
// subresource under a resourceVersion precondition, and stores the
// certificate under the reservation's resourceVersion, so concurrent
// signers, retries and a deleted-and-recreated CSR never receive two
// certificates or an old request's certificate.
package controller
