package certificates

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
)

const (
	ds = certv1.UsageDigitalSignature
	ke = certv1.UsageKeyEncipherment
	ca = certv1.UsageClientAuth
	sa = certv1.UsageServerAuth
)

// TestCheckSignerPolicy crosses every built-in signer with usage sets, SAN
// kinds, subject shapes and key types.
func TestCheckSignerPolicy(t *testing.T) {
	t.Parallel()
	type sans struct {
		dns   []string
		ips   []net.IP
		email []string
		uris  []*url.URL
	}
	sanKinds := map[string]sans{
		"none":   {},
		"DNS":    {dns: []string{"n1.example"}},
		"IP":     {ips: []net.IP{net.ParseIP("10.0.0.1")}},
		"DNS+IP": {dns: []string{"n1.example"}, ips: []net.IP{net.ParseIP("10.0.0.1")}},
		"email":  {dns: []string{"n1.example"}, email: []string{"n1@example.com"}},
		"URI":    {dns: []string{"n1.example"}, uris: []*url.URL{{Scheme: "spiffe", Host: "td", Path: "/n1"}}},
	}
	subjects := map[string]pkix.Name{
		"node":             subject("system:node:n1", "system:nodes"),
		"node, two groups": subject("system:node:n1", "system:nodes", "dev"),
		"node, no group":   subject("system:node:n1"),
		"node, empty name": subject("system:node:", "system:nodes"),
		"node, wrong case": subject("System:Node:n1", "system:nodes"),
		"user":             subject("jane", "dev"),
		"masters":          subject("root", "system:masters"),
	}
	usageSets := map[string][]certv1.KeyUsage{
		"client":         {ds, ke, ca},
		"client, no KE":  {ds, ca},
		"client only":    {ca},
		"client reorder": {ca, ke, ds},
		"serving":        {ds, ke, sa},
		"serving, no KE": {ds, sa},
		"both":           {ds, ke, ca, sa},
		"signing":        {ds},
		"cert sign":      {ds, ca, certv1.UsageCertSign},
	}
	keys := []string{"ecdsa-p256", "rsa-2048", "ed25519"}

	// want says which error a combination gets, nil for accepted.
	want := func(signer, subj, sanKind, usages string) error {
		s := sanKinds[sanKind]
		switch signer {
		case SignerKubeAPIServerClient:
			switch usages {
			case "client", "client, no KE", "client only", "client reorder":
			case "serving", "serving, no KE", "both", "cert sign":
				return ErrInvalidClientUsage
			case "signing":
				return ErrMissingClientAuth
			}
			if subj == "masters" {
				return ErrSystemMasters
			}
			return nil
		case SignerKubeAPIServerClientKubelet:
			if subj != "node" && subj != "node, empty name" && subj != "node, wrong case" {
				return ErrOrganizationNotSystemNodes
			}
			switch {
			case len(s.dns) > 0:
				return ErrDNSSANNotAllowed
			case len(s.email) > 0:
				return ErrEmailSANNotAllowed
			case len(s.ips) > 0:
				return ErrIPSANNotAllowed
			case len(s.uris) > 0:
				return ErrURISANNotAllowed
			}
			switch subj {
			case "node, wrong case":
				return ErrCommonNameNotSystemNode
			case "node, empty name":
				return ErrEmptyNodeName
			}
			switch usages {
			case "client", "client, no KE", "client reorder":
				return nil
			}
			return ErrUsagesMismatch
		default: // kubelet-serving
			if subj != "node" && subj != "node, empty name" && subj != "node, wrong case" {
				return ErrOrganizationNotSystemNodes
			}
			switch {
			case len(s.dns) == 0 && len(s.ips) == 0:
				return ErrDNSOrIPSANRequired
			case len(s.email) > 0:
				return ErrEmailSANNotAllowed
			case len(s.uris) > 0:
				return ErrURISANNotAllowed
			}
			switch usages {
			case "serving", "serving, no KE":
			default:
				return ErrUsagesMismatch
			}
			switch subj {
			case "node, wrong case":
				return ErrCommonNameNotSystemNode
			case "node, empty name":
				return ErrEmptyNodeName
			}
			return nil
		}
	}

	for _, signer := range BuiltInSigners() {
		for subjName, subj := range subjects {
			for sanName, s := range sanKinds {
				for _, keyName := range keys {
					req := &x509.CertificateRequest{Subject: subj, DNSNames: s.dns, IPAddresses: s.ips, EmailAddresses: s.email, URIs: s.uris}
					der := csrPEM(t, testKey(t, keyName), req)
					parsed, err := ParseRequest(der)
					if err != nil {
						t.Fatalf("ParseRequest(%s/%s/%s): %v", subjName, sanName, keyName, err)
					}
					for usageName, usages := range usageSets {
						name := signer + "/" + subjName + "/" + sanName + "/" + usageName + "/" + keyName
						wantErr := want(signer, subjName, sanName, usageName)
						err := CheckSignerPolicy(signer, parsed, usages)
						if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
							t.Errorf("%s: CheckSignerPolicy() = %v, want %v", name, err, wantErr)
							continue
						}
						if err != nil {
							var pe *SignerPolicyError
							if !errors.As(err, &pe) || pe.Signer != signer {
								t.Errorf("%s: error %v is not a *SignerPolicyError for %s", name, err, signer)
							}
						}
					}
				}
			}
		}
	}
}

func TestCheckSignerPolicyUnknownSigner(t *testing.T) {
	t.Parallel()
	req, err := ParseRequest(userCSR(t).Spec.Request)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{LegacyUnknownSignerName, "example.com/signer", "kubernetes.io/kube-apiserver-serving", "KUBERNETES.IO/kube-apiserver-client"} {
		if err := CheckSignerPolicy(s, req, []certv1.KeyUsage{ca}); !errors.Is(err, ErrNotBuiltInSigner) {
			t.Errorf("CheckSignerPolicy(%q) = %v, want %v", s, err, ErrNotBuiltInSigner)
		}
		if IsBuiltInSigner(s) {
			t.Errorf("IsBuiltInSigner(%q) = true", s)
		}
	}
}

// TestPolicyMessages pins the Failed condition messages to
// kube-controller-manager's wording.
func TestPolicyMessages(t *testing.T) {
	t.Parallel()
	parse := func(req *x509.CertificateRequest) *x509.CertificateRequest {
		p, err := ParseRequest(csrPEM(t, testKey(t, "ecdsa-p256"), req))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	node := parse(&x509.CertificateRequest{Subject: subject("system:node:n1", "system:nodes")})
	user := parse(&x509.CertificateRequest{Subject: subject("jane")})
	tests := []struct {
		signer string
		req    *x509.CertificateRequest
		usages []certv1.KeyUsage
		want   string
	}{
		{SignerKubeAPIServerClient, user, []certv1.KeyUsage{ds, sa}, "invalid usage for client certificate: server auth"},
		{SignerKubeAPIServerClient, user, []certv1.KeyUsage{ds}, "missing required usage for client certificate: client auth"},
		{SignerKubeAPIServerClientKubelet, node, []certv1.KeyUsage{ca}, "usages did not match [client auth digital signature key encipherment]"},
		{SignerKubeletServing, node, []certv1.KeyUsage{ds, sa}, "DNS or IP subjectAltName is required"},
		{SignerKubeAPIServerClientKubelet, user, []certv1.KeyUsage{ds, ca}, "subject organization is not system:nodes"},
	}
	for _, tc := range tests {
		err := CheckSignerPolicy(tc.signer, tc.req, tc.usages)
		if err == nil {
			t.Errorf("CheckSignerPolicy(%s, %v) = nil, want %q", tc.signer, tc.usages, tc.want)
			continue
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("CheckSignerPolicy(%s, %v) message (-want +got):\n%s", tc.signer, tc.usages, diff)
		}
	}
}

func TestKeyUsages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		usages  []certv1.KeyUsage
		wantKU  x509.KeyUsage
		wantEKU []x509.ExtKeyUsage
		wantErr error
	}{
		{"client", []certv1.KeyUsage{ca}, 0, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil},
		{"kubelet serving", []certv1.KeyUsage{sa, ke, ds}, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil},
		{"sorted and deduplicated", []certv1.KeyUsage{ca, sa, certv1.UsageSMIME, certv1.UsageEmailProtection, certv1.UsageSigning, ds},
			x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, nil},
		{"unknown", []certv1.KeyUsage{ca, "Client Auth"}, 0, nil, ErrUnknownUsage},
	}
	for _, tc := range tests {
		ku, eku, err := KeyUsages(tc.usages)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: KeyUsages() error = %v, want %v", tc.name, err, tc.wantErr)
			continue
		}
		if ku != tc.wantKU {
			t.Errorf("%s: KeyUsages() KU = %b, want %b", tc.name, ku, tc.wantKU)
		}
		if diff := cmp.Diff(tc.wantEKU, eku); diff != "" {
			t.Errorf("%s: KeyUsages() EKU (-want +got):\n%s", tc.name, diff)
		}
	}
	all := AllUsages()
	if len(all) != 23 {
		t.Errorf("AllUsages() has %d values, want 23", len(all))
	}
	for _, u := range all {
		if _, _, err := KeyUsages([]certv1.KeyUsage{u}); err != nil {
			t.Errorf("KeyUsages(%q) = %v", u, err)
		}
	}
}
