package certificates

import (
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

// IsApproved reports whether csr has an Approved condition and no Denied
// one (kube-controller-manager's IsCertificateRequestApproved).
func IsApproved(csr *certv1.CertificateSigningRequest) bool {
	return hasCondition(csr, certv1.CertificateApproved) && !hasCondition(csr, certv1.CertificateDenied)
}

// IsDenied reports whether csr has a Denied condition.
func IsDenied(csr *certv1.CertificateSigningRequest) bool {
	return hasCondition(csr, certv1.CertificateDenied)
}

// IsFailed reports whether csr has a Failed condition with status True.
func IsFailed(csr *certv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certv1.CertificateFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// HasCertificate reports whether csr carries an issued certificate.
func HasCertificate(csr *certv1.CertificateSigningRequest) bool {
	return len(csr.Status.Certificate) > 0
}

// IsPending reports whether csr has neither an Approved nor a Denied
// condition.
func IsPending(csr *certv1.CertificateSigningRequest) bool {
	return !hasCondition(csr, certv1.CertificateApproved) && !hasCondition(csr, certv1.CertificateDenied)
}

// Condition returns the first condition of type t and whether there is one.
func Condition(csr *certv1.CertificateSigningRequest, t certv1.RequestConditionType) (certv1.CertificateSigningRequestCondition, bool) {
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return certv1.CertificateSigningRequestCondition{}, false
}

// hasCondition reports whether csr has a condition of type t. Approved and
// Denied may only have status True (validation), so their presence counts.
func hasCondition(csr *certv1.CertificateSigningRequest, t certv1.RequestConditionType) bool {
	_, ok := Condition(csr, t)
	return ok
}

// findConditions returns every condition of type t, in order.
func findConditions(csr *certv1.CertificateSigningRequest, t certv1.RequestConditionType) []certv1.CertificateSigningRequestCondition {
	var out []certv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}
