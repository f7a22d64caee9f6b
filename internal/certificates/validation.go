package certificates

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Caps on list sizes, so that one object can never produce an unbounded
// error list or an unbounded amount of work.
const (
	// MaxUsages caps spec.usages; there are only 23 distinct values.
	MaxUsages = 32
	// MaxConditions caps status.conditions.
	MaxConditions = 32
	// MaxCertificateBytes caps status.certificate (a chain of a few
	// certificates is a few KiB).
	MaxCertificateBytes = 256 << 10
	// MaxNameLength caps metadata.name, which becomes a store key and a
	// URL path segment.
	MaxNameLength = 253
)

// LegacyUnknownSignerName is the v1beta1-only signer that
// certificates.k8s.io/v1 refuses on create.
const LegacyUnknownSignerName = "kubernetes.io/legacy-unknown"

var (
	fieldMetadata   = field.NewPath("metadata")
	fieldSpec       = field.NewPath("spec")
	fieldRequest    = fieldSpec.Child("request")
	fieldUsages     = fieldSpec.Child("usages")
	fieldSignerName = fieldSpec.Child("signerName")
	fieldExpiration = fieldSpec.Child("expirationSeconds")
	fieldConditions = field.NewPath("status", "conditions")
	fieldCert       = field.NewPath("status", "certificate")
)

// validationOptions mirrors Kubernetes' certificateValidationOptions: what
// an endpoint may change, and the old-data problems tolerated on update so
// that stored objects stay updatable.
type validationOptions struct {
	// allowSettingApprovalConditions: the approval subresource.
	allowSettingApprovalConditions bool
	// allowSettingCertificate: the status subresource.
	allowSettingCertificate bool

	// Tolerated because the stored object already has the problem.
	allowBothApprovedAndDenied   bool
	allowLegacySignerName        bool
	allowDuplicateConditionTypes bool
	allowEmptyConditionType      bool
	allowArbitraryCertificate    bool
	allowUnknownUsages           bool
	allowDuplicateUsages         bool
	// skipRequest: spec.request equals the stored bytes, which were
	// checked on create; spec is immutable, so checking again would only
	// cost a signature verification and could lock out data stored under
	// an older policy.
	skipRequest bool
}

// ValidateCreate validates a CSR about to be created, after
// [PrepareForCreate], reporting every problem at once with its field path:
// metadata (name present, a path segment without control characters, at
// most MaxNameLength; generic ObjectMeta rules), spec.request
// ([ParseRequest]), spec.usages (required, known, no duplicates),
// spec.signerName (syntax; legacy-unknown refused), spec.expirationSeconds
// (≥ 600), status.conditions and status.certificate.
func ValidateCreate(csr *certv1.CertificateSigningRequest) field.ErrorList {
	return validate(csr, optionsFor(csr, nil))
}

// ValidateUpdate validates an update of the main resource after
// [PrepareForUpdate].
func ValidateUpdate(newCSR, old *certv1.CertificateSigningRequest) field.ErrorList {
	return validateUpdate(newCSR, old, optionsFor(newCSR, old))
}

// ValidateApprovalUpdate validates an update of the approval subresource
// after [PrepareForApprovalUpdate]: Approved and Denied conditions may be
// added (exclusive of each other) but never removed.
func ValidateApprovalUpdate(newCSR, old *certv1.CertificateSigningRequest) field.ErrorList {
	opts := optionsFor(newCSR, old)
	opts.allowSettingApprovalConditions = true
	return validateUpdate(newCSR, old, opts)
}

// ValidateStatusUpdate validates an update of the status subresource after
// [PrepareForStatusUpdate]: status.certificate may be set once, from empty
// to valid PEM; Approved and Denied conditions may not change.
func ValidateStatusUpdate(newCSR, old *certv1.CertificateSigningRequest) field.ErrorList {
	opts := optionsFor(newCSR, old)
	opts.allowSettingCertificate = true
	return validateUpdate(newCSR, old, opts)
}

func optionsFor(newCSR, old *certv1.CertificateSigningRequest) validationOptions {
	if old == nil {
		return validationOptions{}
	}
	return validationOptions{
		allowBothApprovedAndDenied:   hasCondition(old, certv1.CertificateApproved) && hasCondition(old, certv1.CertificateDenied),
		allowLegacySignerName:        old.Spec.SignerName == LegacyUnknownSignerName,
		allowDuplicateConditionTypes: hasDuplicateConditionTypes(old),
		allowEmptyConditionType:      hasEmptyConditionType(old),
		allowArbitraryCertificate:    bytes.Equal(newCSR.Status.Certificate, old.Status.Certificate) || validateCertificate(old.Status.Certificate) != nil,
		allowUnknownUsages:           hasUnknownUsage(old.Spec.Usages),
		allowDuplicateUsages:         hasDuplicateUsage(old.Spec.Usages),
		skipRequest:                  bytes.Equal(newCSR.Spec.Request, old.Spec.Request),
	}
}

func validate(csr *certv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&csr.ObjectMeta, false, validateName, fieldMetadata)

	if !opts.skipRequest {
		if _, err := ParseRequest(csr.Spec.Request); err != nil {
			errs = append(errs, field.Invalid(fieldRequest, field.OmitValueType{}, err.Error()))
		}
	}
	errs = append(errs, validateUsages(csr.Spec.Usages, opts)...)

	if !opts.allowLegacySignerName && csr.Spec.SignerName == LegacyUnknownSignerName {
		errs = append(errs, field.Invalid(fieldSignerName, csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, ValidateSignerName(fieldSignerName, csr.Spec.SignerName)...)
	}
	if s := csr.Spec.ExpirationSeconds; s != nil && *s < 600 {
		errs = append(errs, field.Invalid(fieldExpiration, *s, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, validateConditions(csr, opts)...)
	if !opts.allowArbitraryCertificate {
		if err := validateCertificate(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(fieldCert, "<certificate data>", err.Error()))
		}
	}
	return errs
}

// validateName is the CSR name rule: Kubernetes has none of its own, but
// the name is a URL path segment and a store key, so it must be one
// (no "/", "%", "." or ".."), short, and free of control characters.
func validateName(name string, prefix bool) []string {
	var msgs []string
	if prefix {
		msgs = content.IsPathSegmentPrefix(name)
	} else {
		msgs = content.IsPathSegmentName(name)
	}
	if len(name) > MaxNameLength {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters", MaxNameLength))
	}
	if hasControl(name) {
		msgs = append(msgs, "may not contain control characters")
	}
	return msgs
}

func validateUsages(usages []certv1.KeyUsage, opts validationOptions) field.ErrorList {
	if len(usages) == 0 {
		return field.ErrorList{field.Required(fieldUsages, "")}
	}
	if len(usages) > MaxUsages {
		return field.ErrorList{field.TooMany(fieldUsages, len(usages), MaxUsages)}
	}
	var errs field.ErrorList
	if !opts.allowUnknownUsages {
		for i, u := range usages {
			if !IsKnownUsage(u) {
				errs = append(errs, field.NotSupported(fieldUsages.Index(i), u, AllUsages()))
			}
		}
	}
	if !opts.allowDuplicateUsages {
		seen := make(map[certv1.KeyUsage]bool, len(usages))
		for i, u := range usages {
			if seen[u] {
				errs = append(errs, field.Duplicate(fieldUsages.Index(i), u))
			}
			seen[u] = true
		}
	}
	return errs
}

// trueOnlyConditions may only have status True.
func isTrueOnlyCondition(t certv1.RequestConditionType) bool {
	return t == certv1.CertificateApproved || t == certv1.CertificateDenied || t == certv1.CertificateFailed
}

func validateConditions(csr *certv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	conds := csr.Status.Conditions
	if len(conds) > MaxConditions {
		return field.ErrorList{field.TooMany(fieldConditions, len(conds), MaxConditions)}
	}
	var errs field.ErrorList
	seen := make(map[certv1.RequestConditionType]bool, len(conds))
	approved, denied := false, false
	for i, c := range conds {
		p := fieldConditions.Index(i)
		if c.Type == "" && !opts.allowEmptyConditionType {
			errs = append(errs, field.Required(p.Child("type"), ""))
		}
		allowed := []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}
		if isTrueOnlyCondition(c.Type) {
			allowed = []corev1.ConditionStatus{corev1.ConditionTrue}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(p.Child("status"), ""))
		case !containsStatus(allowed, c.Status):
			errs = append(errs, field.NotSupported(p.Child("status"), c.Status, allowed))
		}
		if !opts.allowBothApprovedAndDenied {
			switch c.Type {
			case certv1.CertificateApproved:
				approved = true
				if denied {
					errs = append(errs, field.Invalid(p.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			case certv1.CertificateDenied:
				denied = true
				if approved {
					errs = append(errs, field.Invalid(p.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			}
		}
		if !opts.allowDuplicateConditionTypes {
			if seen[c.Type] {
				errs = append(errs, field.Duplicate(p.Child("type"), c.Type))
			}
			seen[c.Type] = true
		}
		if hasControl(c.Reason) {
			errs = append(errs, field.Invalid(p.Child("reason"), c.Reason, "may not contain control characters"))
		}
	}
	return errs
}

func containsStatus(list []corev1.ConditionStatus, s corev1.ConditionStatus) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validateCertificate checks status.certificate as kubernetes-pki §4.3
// says: empty, or one or more PEM blocks, each of type CERTIFICATE without
// headers and parsing as X.509 (text between blocks is allowed).
func validateCertificate(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if len(data) > MaxCertificateBytes {
		return fmt.Errorf("certificate data is %d bytes, at most %d allowed", len(data), MaxCertificateBytes)
	}
	blocks := 0
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		blocks++
		data = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

func validateUpdate(newCSR, old *certv1.CertificateSigningRequest, opts validationOptions) field.ErrorList {
	errs := validate(newCSR, opts)

	// Approved, Denied and Failed conditions are never removed (U1).
	for _, t := range []certv1.RequestConditionType{certv1.CertificateApproved, certv1.CertificateDenied, certv1.CertificateFailed} {
		if len(findConditions(newCSR, t)) < len(findConditions(old, t)) {
			errs = append(errs, field.Forbidden(fieldConditions, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	// Outside /approval, Approved and Denied conditions do not change (U2).
	if !opts.allowSettingApprovalConditions {
		for _, t := range []certv1.RequestConditionType{certv1.CertificateApproved, certv1.CertificateDenied} {
			oldConds, newConds := findConditions(old, t), findConditions(newCSR, t)
			switch {
			case len(newConds) < len(oldConds):
				// Reported above.
			case len(newConds) > len(oldConds):
				errs = append(errs, field.Forbidden(fieldConditions, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !apiequality.Semantic.DeepEqual(oldConds, newConds):
				errs = append(errs, field.Forbidden(fieldConditions, fmt.Sprintf("updates may not modify a condition of type %q\n%s", t, cmp.Diff(oldConds, newConds))))
			}
		}
	}
	// status.certificate: only /status sets it, and only once (U3, U4).
	if !bytes.Equal(newCSR.Status.Certificate, old.Status.Certificate) {
		if !opts.allowSettingCertificate {
			errs = append(errs, field.Forbidden(fieldCert, "updates may not set certificate content"))
		} else if len(old.Status.Certificate) > 0 {
			errs = append(errs, field.Forbidden(fieldCert, "updates may not modify existing certificate content"))
		}
	}
	return append(errs, apivalidation.ValidateObjectMetaUpdate(&newCSR.ObjectMeta, &old.ObjectMeta, fieldMetadata)...)
}

func hasDuplicateConditionTypes(csr *certv1.CertificateSigningRequest) bool {
	seen := map[certv1.RequestConditionType]bool{}
	for _, c := range csr.Status.Conditions {
		if seen[c.Type] {
			return true
		}
		seen[c.Type] = true
	}
	return false
}

func hasEmptyConditionType(csr *certv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == "" {
			return true
		}
	}
	return false
}

func hasUnknownUsage(usages []certv1.KeyUsage) bool {
	for _, u := range usages {
		if !IsKnownUsage(u) {
			return true
		}
	}
	return false
}

func hasDuplicateUsage(usages []certv1.KeyUsage) bool {
	seen := make(map[certv1.KeyUsage]bool, len(usages))
	for _, u := range usages {
		if seen[u] {
			return true
		}
		seen[u] = true
	}
	return false
}
