package certificates

import (
	"slices"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// User is the authenticated requester of a create, as the API server's
// authenticator established it.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// PrepareForCreate readies csr for storage as kube-apiserver's registry
// strategy does (kubernetes-pki §4.7): spec.username, uid, groups and extra
// are replaced by u, whatever the body said, and the status is wiped, so a
// pre-approved or pre-issued CSR cannot be created. It copies u's slices
// and maps.
func PrepareForCreate(csr *certv1.CertificateSigningRequest, u User) {
	csr.Spec.Username = u.Name
	csr.Spec.UID = u.UID
	csr.Spec.Groups = slices.Clone(u.Groups)
	csr.Spec.Extra = nil
	if len(u.Extra) > 0 {
		csr.Spec.Extra = make(map[string]certv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			csr.Spec.Extra[k] = slices.Clone(v)
		}
	}
	csr.Status = certv1.CertificateSigningRequestStatus{}
}

// PrepareForUpdate readies an update of the main resource: spec and status
// are reset to the stored values, so only metadata (labels, annotations,
// finalizers, owner references) can change.
func PrepareForUpdate(newCSR, old *certv1.CertificateSigningRequest) {
	newCSR.Spec = *old.Spec.DeepCopy()
	newCSR.Status = *old.Status.DeepCopy()
}

// PrepareForApprovalUpdate readies an update of the approval subresource at
// the current time; see [PrepareForApprovalUpdateAt].
func PrepareForApprovalUpdate(newCSR, old *certv1.CertificateSigningRequest) {
	PrepareForApprovalUpdateAt(newCSR, old, time.Now())
}

// ConditionIssuing is the condition kubepki's signer writes through the
// status subresource to record an issuance (its serial) before the CA key
// signs, and to mark it done. It is the signer's record: only a status
// update can write it.
const ConditionIssuing certv1.RequestConditionType = "kubepki.io/Issuing"

// PrepareForApprovalUpdateAt readies an update of the approval subresource:
// spec and status.certificate are reset to the stored values, so only
// status.conditions come from the request; zero condition timestamps are
// filled in as of now (see [PrepareForStatusUpdateAt]). The signer's
// [ConditionIssuing] is put back as stored: an approver can neither erase
// nor forge the record of an issuance (kube-apiserver, which knows no
// such condition, would let the request change it).
func PrepareForApprovalUpdateAt(newCSR, old *certv1.CertificateSigningRequest, now time.Time) {
	newCSR.Spec = *old.Spec.DeepCopy()
	newCSR.Status.Certificate = slices.Clone(old.Status.Certificate)
	keepStoredConditions(newCSR, old, ConditionIssuing)
	populateConditionTimestamps(newCSR, old, now)
}

// keepStoredConditions replaces newCSR's conditions of type t by the
// stored ones, which keep their place after the other conditions.
func keepStoredConditions(newCSR, old *certv1.CertificateSigningRequest, t certv1.RequestConditionType) {
	isT := func(c certv1.CertificateSigningRequestCondition) bool { return c.Type == t }
	if !slices.ContainsFunc(newCSR.Status.Conditions, isT) && !slices.ContainsFunc(old.Status.Conditions, isT) {
		return
	}
	kept := slices.DeleteFunc(slices.Clone(newCSR.Status.Conditions), isT)
	for _, c := range old.Status.Conditions {
		if isT(c) {
			kept = append(kept, *c.DeepCopy())
		}
	}
	newCSR.Status.Conditions = kept
}

// PrepareForStatusUpdate readies an update of the status subresource at the
// current time; see [PrepareForStatusUpdateAt].
func PrepareForStatusUpdate(newCSR, old *certv1.CertificateSigningRequest) {
	PrepareForStatusUpdateAt(newCSR, old, time.Now())
}

// PrepareForStatusUpdateAt readies an update of the status subresource:
// spec is reset to the stored value; where the request keeps as many
// Approved (or Denied) conditions as stored, the stored ones are put back
// unchanged (adding or removing them still fails validation); zero
// lastUpdateTime becomes now, and zero lastTransitionTime is copied from a
// stored condition of the same type and status, else now.
func PrepareForStatusUpdateAt(newCSR, old *certv1.CertificateSigningRequest, now time.Time) {
	newCSR.Spec = *old.Spec.DeepCopy()
	preserveConditions(newCSR, old, certv1.CertificateApproved)
	preserveConditions(newCSR, old, certv1.CertificateDenied)
	populateConditionTimestamps(newCSR, old, now)
}

// preserveConditions copies the stored conditions of type t over the new
// ones when both have the same number of them.
func preserveConditions(newCSR, old *certv1.CertificateSigningRequest, t certv1.RequestConditionType) {
	var oldIdx, newIdx []int
	for i, c := range old.Status.Conditions {
		if c.Type == t {
			oldIdx = append(oldIdx, i)
		}
	}
	for i, c := range newCSR.Status.Conditions {
		if c.Type == t {
			newIdx = append(newIdx, i)
		}
	}
	if len(oldIdx) != len(newIdx) {
		return
	}
	for i := range oldIdx {
		newCSR.Status.Conditions[newIdx[i]] = *old.Status.Conditions[oldIdx[i]].DeepCopy()
	}
}

func populateConditionTimestamps(newCSR, old *certv1.CertificateSigningRequest, now time.Time) {
	t := metav1.NewTime(now)
	for i := range newCSR.Status.Conditions {
		c := &newCSR.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = t
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = t
		for _, o := range old.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}
