package inspect

import (
	"errors"
	"slices"
	"strings"

	"github.com/kubepki/kubepki/internal/certificates"
)

// lintCSRObject applies the Certificates API's own validation
// ([certificates.ValidateCreate]), admission rule and built-in signer
// policy to a CertificateSigningRequest object before it is submitted
// (kubernetes-pki.md §8, L05–L12).
func lintCSRObject(e *entry) []Finding {
	csr := e.obj.CSRObject
	var fs []Finding
	for _, fe := range certificates.ValidateCreate(csr) {
		id := RuleCSRObjectInvalid
		switch {
		case fe.Field == "spec.signerName" && csr.Spec.SignerName == "":
			id = RuleCSRObjectSigner
		case fe.Field == "spec.signerName" && csr.Spec.SignerName == certificates.LegacyUnknownSignerName:
			id = RuleCSRObjectLegacySigner
		case strings.HasPrefix(fe.Field, "spec.usages"):
			id = RuleCSRObjectUsages
		case fe.Field == "spec.expirationSeconds":
			id = RuleCSRObjectExpiration
		case fe.Field == "spec.request" && errors.Is(csrRequestError(csr.Spec.Request), certificates.ErrRequestPEM):
			id = RuleCSRPEMType
		}
		fs = append(fs, finding(id, e.source, "%s", fe.Error()))
	}
	req, err := certificates.ParseRequest(csr.Spec.Request)
	if err != nil {
		return fs
	}
	if err := certificates.CheckSubjectRestriction(csr.Spec.SignerName, req); err != nil {
		fs = append(fs, finding(RuleCSRObjectMasters, e.source, "%v", err))
	}
	// The signer's policy repeats the usage and system:masters checks;
	// report it only for what those did not already say.
	if slices.ContainsFunc(fs, func(f Finding) bool { return f.Rule == RuleCSRObjectUsages || f.Rule == RuleCSRObjectMasters }) {
		return fs
	}
	if err := certificates.CheckSignerPolicy(csr.Spec.SignerName, req, csr.Spec.Usages); err != nil && !errors.Is(err, certificates.ErrNotBuiltInSigner) {
		fs = append(fs, finding(RuleCSRObjectSignerPolicy, e.source, "%v", err))
	}
	return fs
}

func csrRequestError(data []byte) error {
	_, err := certificates.ParseRequest(data)
	return err
}
