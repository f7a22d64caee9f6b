package certificates

import (
	"crypto/x509"
	"fmt"
	"slices"

	certv1 "k8s.io/api/certificates/v1"
)

// keyUsages maps the spec.usages strings that become X.509 KeyUsage bits
// (kubernetes-pki §4.4, kube-controller-manager's keyUsageDict).
var keyUsages = map[certv1.KeyUsage]x509.KeyUsage{
	certv1.UsageSigning:           x509.KeyUsageDigitalSignature,
	certv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
	certv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
	certv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
	certv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
	certv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
	certv1.UsageCertSign:          x509.KeyUsageCertSign,
	certv1.UsageCRLSign:           x509.KeyUsageCRLSign,
	certv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
	certv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
}

// extKeyUsages maps the spec.usages strings that become X.509 extended key
// usages.
var extKeyUsages = map[certv1.KeyUsage]x509.ExtKeyUsage{
	certv1.UsageAny:             x509.ExtKeyUsageAny,
	certv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
	certv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
	certv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
	certv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
	certv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
	certv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
	certv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
	certv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
	certv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
	certv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
	certv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	certv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// AllUsages returns the 23 usage strings certificates.k8s.io/v1 accepts,
// sorted.
func AllUsages() []certv1.KeyUsage {
	all := make([]certv1.KeyUsage, 0, len(keyUsages)+len(extKeyUsages))
	for u := range keyUsages {
		all = append(all, u)
	}
	for u := range extKeyUsages {
		all = append(all, u)
	}
	slices.Sort(all)
	return all
}

// IsKnownUsage reports whether u is one of the 23 accepted usage strings
// (case-sensitive, spaces as written).
func IsKnownUsage(u certv1.KeyUsage) bool {
	_, ku := keyUsages[u]
	_, eku := extKeyUsages[u]
	return ku || eku
}

// KeyUsages maps spec.usages to the X.509 KeyUsage bits and the extended
// key usages, sorted by value and without duplicates, as
// kube-controller-manager's signer does. It returns an error wrapping
// ErrUnknownUsage naming every unknown string.
func KeyUsages(usages []certv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var ku x509.KeyUsage
	var ekus []x509.ExtKeyUsage
	var unknown []certv1.KeyUsage
	for _, u := range usages {
		if bit, ok := keyUsages[u]; ok {
			ku |= bit
		} else if eku, ok := extKeyUsages[u]; ok {
			if !slices.Contains(ekus, eku) {
				ekus = append(ekus, eku)
			}
		} else {
			unknown = append(unknown, u)
		}
	}
	if len(unknown) > 0 {
		return 0, nil, fmt.Errorf("%w: %q", ErrUnknownUsage, unknown)
	}
	slices.Sort(ekus)
	return ku, ekus, nil
}
