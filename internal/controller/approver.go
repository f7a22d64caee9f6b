package controller

import (
	"context"
	"fmt"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// autoApprove applies the approval policy (certificates.ApprovalPolicy) to
// a pending CSR and, when it says so, appends the Approved condition
// through the approval subresource with csr's resourceVersion as
// precondition. It never denies.
func (m *Manager) autoApprove(ctx context.Context, csr *certv1.CertificateSigningRequest) (time.Duration, error) {
	csr, err := m.whole(ctx, csr)
	if err != nil || csr == nil {
		return 0, err
	}
	d, err := m.policy.Decide(ctx, csr)
	if err != nil {
		return 0, err
	}
	if !d.Approve {
		m.log.Debug("csr left for a human", "csr", csr.Name, "signer", csr.Spec.SignerName, "why", d.Why)
		return 0, nil
	}
	a := csr.DeepCopy()
	a.Status.Conditions = append(a.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: d.Reason, Message: d.Message, LastUpdateTime: metav1.NewTime(m.now()),
	})
	if _, err := m.client.UpdateApproval(ctx, csr.Name, a, metav1.UpdateOptions{}); err != nil {
		return 0, fmt.Errorf("approve %s: %w", csr.Name, err)
	}
	m.log.Info("csr auto-approved", "csr", csr.Name, "uid", csr.UID, "signer", csr.Spec.SignerName,
		"requester", csr.Spec.Username, "reason", d.Reason, "message", d.Message)
	if m.metrics.AutoApproved != nil {
		m.metrics.AutoApproved(csr.Spec.SignerName)
	}
	return 0, nil
}
