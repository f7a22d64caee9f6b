package controller

import (
	"context"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepki/kubepki/internal/certificates"
)

// The cleaner's schedule, kube-controller-manager's csrcleaner
// (kubernetes-pki §4.13).
const (
	ApprovedExpiration = time.Hour
	DeniedExpiration   = time.Hour
	FailedExpiration   = time.Hour
	PendingExpiration  = 24 * time.Hour
)

// Cleanup rules, as reported by [CleanupRule] and in logs and metrics.
const (
	RuleIssued      = "issued"
	RuleDenied      = "denied"
	RuleFailed      = "failed"
	RulePending     = "pending"
	RuleCertExpired = "certificate-expired"
)

// CleanupRule returns the rule under which csr is due for deletion at now,
// or "" if it is not:
//
//   - approved and issued, Approved lastUpdateTime more than 1 h ago;
//   - approved and issued, and the issued certificate expired;
//   - Denied lastUpdateTime more than 1 h ago;
//   - Failed lastUpdateTime more than 1 h ago;
//   - no conditions at all and created more than 24 h ago.
//
// A zero timestamp never counts as old; approved CSRs that were never
// issued (left for an external signer) are kept.
func CleanupRule(csr *certv1.CertificateSigningRequest, now time.Time) string {
	older := func(t metav1.Time, d time.Duration) bool { return !t.IsZero() && now.Sub(t.Time) > d }
	issued := certificates.HasCertificate(csr)
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certv1.CertificateApproved:
			if issued && older(c.LastUpdateTime, ApprovedExpiration) {
				return RuleIssued
			}
			if t, ok := notAfter(csr); issued && ok && now.After(t) {
				return RuleCertExpired
			}
		case certv1.CertificateDenied:
			if older(c.LastUpdateTime, DeniedExpiration) {
				return RuleDenied
			}
		case certv1.CertificateFailed:
			if older(c.LastUpdateTime, FailedExpiration) {
				return RuleFailed
			}
		}
	}
	if len(csr.Status.Conditions) == 0 && older(csr.CreationTimestamp, PendingExpiration) {
		return RulePending
	}
	return ""
}

// cleanLoop runs cleanOnce at once and then every clean interval.
func (m *Manager) cleanLoop(ctx context.Context, store cache.Store) {
	t := time.NewTicker(m.clean)
	defer t.Stop()
	for {
		m.cleanOnce(ctx, store.List())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanOnce deletes every CSR in objs that CleanupRule marks, with its uid
// and resourceVersion as preconditions so that a recreated or changed CSR
// is never deleted on stale information. It returns how many it deleted.
func (m *Manager) cleanOnce(ctx context.Context, objs []any) int {
	now := m.now()
	n := 0
	var scratch certv1.CertificateSigningRequest
	for _, obj := range objs {
		var csr *certv1.CertificateSigningRequest
		r, isRecord := obj.(*record)
		if isRecord {
			r.fillView(&scratch) // a record's CSR is only read here
			csr = &scratch
		} else if c, ok := asCSR(obj); ok {
			csr = c
		} else {
			continue
		}
		rule := CleanupRule(csr, now)
		if rule == "" {
			continue
		}
		uid, rv := csr.UID, csr.ResourceVersion
		if isRecord {
			uid, rv = r.ids()
		}
		err := m.client.Delete(ctx, csr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
		switch {
		case err == nil:
			n++
			m.log.Info("csr cleaned", "csr", csr.Name, "uid", uid, "signer", csr.Spec.SignerName, "rule", rule)
			if m.metrics.Cleaned != nil {
				m.metrics.Cleaned(rule)
			}
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone or changed since the cache saw it: the next pass decides.
		case ctx.Err() != nil:
			return n
		default:
			m.log.Warn("csr clean failed", "csr", csr.Name, "err", err)
		}
	}
	return n
}
