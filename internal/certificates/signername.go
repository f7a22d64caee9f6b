package certificates

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxSignerNameLength is a domain (253), a slash and a path that still fits
// a resourceName with a 63-character suffix (253 + 1 + 63), as Kubernetes
// computes it (kubernetes-pki §4.6).
const maxSignerNameLength = validation.DNS1123SubdomainMaxLength + 1 +
	validation.DNS1123SubdomainMaxLength + 1 + validation.DNS1123LabelMaxLength

// ValidateSignerName checks the signerName syntax of kubernetes-pki §4.6:
// "<domain>/<path>" with exactly one slash, a domain of at least two
// DNS-1123 labels and at most 253 characters, a path of dot-separated
// DNS-1123 subdomains, and at most 571 characters in all.
func ValidateSignerName(fldPath *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(path, "/") {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	if len(domain) > validation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(fldPath, domain, validation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if msgs := validation.IsDNS1123Label(l); len(msgs) > 0 {
			// One bad label is enough: more messages would repeat it.
			for _, m := range msgs {
				errs = append(errs, field.Invalid(fldPath, domain, "validating label "+strconv.Quote(l)+": "+m))
			}
			break
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(fldPath, domain, "should be a domain with at least two segments separated by dots"))
	}
	for _, part := range strings.Split(path, ".") {
		if msgs := validation.IsDNS1123Subdomain(part); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(fldPath, path, "validating component "+strconv.Quote(part)+": "+m))
			}
			break
		}
	}
	if len(name) > maxSignerNameLength {
		errs = append(errs, field.TooLong(fldPath, name, maxSignerNameLength))
	}
	return errs
}
