package certificates

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldErr is the part of a field.Error the tests compare.
type fieldErr struct {
	Type  field.ErrorType
	Field string
}

func summarize(errs field.ErrorList) []fieldErr {
	var out []fieldErr
	for _, e := range errs {
		out = append(out, fieldErr{e.Type, e.Field})
	}
	return out
}

func int32p(v int32) *int32 { return &v }

func TestValidateCreate(t *testing.T) {
	t.Parallel()
	cond := func(typ certv1.RequestConditionType, status corev1.ConditionStatus) certv1.CertificateSigningRequestCondition {
		return certv1.CertificateSigningRequestCondition{Type: typ, Status: status}
	}
	tests := []struct {
		name   string
		mutate func(*certv1.CertificateSigningRequest)
		want   []fieldErr
	}{
		{"valid", func(*certv1.CertificateSigningRequest) {}, nil},
		{"valid with expirationSeconds 600", func(c *certv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = int32p(600) }, nil},
		{"valid generateName", func(c *certv1.CertificateSigningRequest) { c.GenerateName = "csr-"; c.Name = "csr-abcde" }, nil},
		{"valid other signer", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/my-signer.v1" }, nil},
		{"valid kubernetes.io reserved signer", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/kube-apiserver-serving" }, nil},
		{"valid custom condition", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond("Custom", corev1.ConditionUnknown)}
		}, nil},
		{"valid certificate", func(c *certv1.CertificateSigningRequest) { c.Status.Certificate = certPEM(t) }, nil},

		{"no name", func(c *certv1.CertificateSigningRequest) { c.Name = "" }, []fieldErr{{field.ErrorTypeRequired, "metadata.name"}}},
		{"name with slash", func(c *certv1.CertificateSigningRequest) { c.Name = "a/b" }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"name with percent", func(c *certv1.CertificateSigningRequest) { c.Name = "a%2f" }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"name dot", func(c *certv1.CertificateSigningRequest) { c.Name = "." }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"name dot dot", func(c *certv1.CertificateSigningRequest) { c.Name = ".." }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"name too long", func(c *certv1.CertificateSigningRequest) { c.Name = strings.Repeat("a", MaxNameLength+1) }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"name with control character", func(c *certv1.CertificateSigningRequest) { c.Name = "a\nb" }, []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},
		{"namespace set", func(c *certv1.CertificateSigningRequest) { c.Namespace = "default" }, []fieldErr{{field.ErrorTypeForbidden, "metadata.namespace"}}},
		{"bad label", func(c *certv1.CertificateSigningRequest) { c.Labels = map[string]string{"a b": "c"} }, []fieldErr{{field.ErrorTypeInvalid, "metadata.labels"}}},

		{"request not PEM", func(c *certv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }, []fieldErr{{field.ErrorTypeInvalid, "spec.request"}}},
		{"request missing", func(c *certv1.CertificateSigningRequest) { c.Spec.Request = nil }, []fieldErr{{field.ErrorTypeInvalid, "spec.request"}}},
		{"usages missing", func(c *certv1.CertificateSigningRequest) { c.Spec.Usages = nil }, []fieldErr{{field.ErrorTypeRequired, "spec.usages"}}},
		{"unknown usage", func(c *certv1.CertificateSigningRequest) {
			c.Spec.Usages = []certv1.KeyUsage{certv1.UsageClientAuth, "Client Auth", "clientAuth"}
		}, []fieldErr{{field.ErrorTypeNotSupported, "spec.usages[1]"}, {field.ErrorTypeNotSupported, "spec.usages[2]"}}},
		{"duplicate usage", func(c *certv1.CertificateSigningRequest) {
			c.Spec.Usages = []certv1.KeyUsage{certv1.UsageClientAuth, certv1.UsageDigitalSignature, certv1.UsageClientAuth}
		}, []fieldErr{{field.ErrorTypeDuplicate, "spec.usages[2]"}}},
		{"too many usages", func(c *certv1.CertificateSigningRequest) {
			c.Spec.Usages = make([]certv1.KeyUsage, MaxUsages+1)
		}, []fieldErr{{field.ErrorTypeTooMany, "spec.usages"}}},
		{"signerName missing", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "" }, []fieldErr{{field.ErrorTypeRequired, "spec.signerName"}}},
		{"legacy-unknown", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = LegacyUnknownSignerName }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName without slash", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName two slashes", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/a/b" }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName one-label domain", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName upper case", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "Example.com/signer" }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName bad path", func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/Signer_1" }, []fieldErr{{field.ErrorTypeInvalid, "spec.signerName"}}},
		{"signerName too long", func(c *certv1.CertificateSigningRequest) {
			c.Spec.SignerName = "example.com/" + strings.Repeat(strings.Repeat("a", 63)+".", 9) + "a"
		}, []fieldErr{{field.ErrorTypeTooLong, "spec.signerName"}}},
		{"expirationSeconds 599", func(c *certv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = int32p(599) }, []fieldErr{{field.ErrorTypeInvalid, "spec.expirationSeconds"}}},
		{"expirationSeconds negative", func(c *certv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = int32p(-1) }, []fieldErr{{field.ErrorTypeInvalid, "spec.expirationSeconds"}}},

		{"condition without type or status", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{{}}
		}, []fieldErr{{field.ErrorTypeRequired, "status.conditions[0].type"}, {field.ErrorTypeRequired, "status.conditions[0].status"}}},
		{"Approved False", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond(certv1.CertificateApproved, corev1.ConditionFalse)}
		}, []fieldErr{{field.ErrorTypeNotSupported, "status.conditions[0].status"}}},
		{"Failed Unknown", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond(certv1.CertificateFailed, corev1.ConditionUnknown)}
		}, []fieldErr{{field.ErrorTypeNotSupported, "status.conditions[0].status"}}},
		{"custom condition bad status", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond("Custom", "Maybe")}
		}, []fieldErr{{field.ErrorTypeNotSupported, "status.conditions[0].status"}}},
		{"Approved and Denied", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond(certv1.CertificateApproved, corev1.ConditionTrue), cond(certv1.CertificateDenied, corev1.ConditionTrue)}
		}, []fieldErr{{field.ErrorTypeInvalid, "status.conditions[1].type"}}},
		{"duplicate condition", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = []certv1.CertificateSigningRequestCondition{cond(certv1.CertificateFailed, corev1.ConditionTrue), cond(certv1.CertificateFailed, corev1.ConditionTrue)}
		}, []fieldErr{{field.ErrorTypeDuplicate, "status.conditions[1].type"}}},
		{"too many conditions", func(c *certv1.CertificateSigningRequest) {
			c.Status.Conditions = make([]certv1.CertificateSigningRequestCondition, MaxConditions+1)
		}, []fieldErr{{field.ErrorTypeTooMany, "status.conditions"}}},
		{"certificate not PEM", func(c *certv1.CertificateSigningRequest) { c.Status.Certificate = []byte("junk") }, []fieldErr{{field.ErrorTypeInvalid, "status.certificate"}}},
		{"certificate wrong type", func(c *certv1.CertificateSigningRequest) { c.Status.Certificate = c.Spec.Request }, []fieldErr{{field.ErrorTypeInvalid, "status.certificate"}}},

		{"everything at once", func(c *certv1.CertificateSigningRequest) {
			c.Name = ""
			c.Spec.Request = []byte("x")
			c.Spec.Usages = nil
			c.Spec.SignerName = "bad"
			c.Spec.ExpirationSeconds = int32p(1)
		}, []fieldErr{
			{field.ErrorTypeRequired, "metadata.name"},
			{field.ErrorTypeInvalid, "spec.request"},
			{field.ErrorTypeRequired, "spec.usages"},
			{field.ErrorTypeInvalid, "spec.signerName"},
			{field.ErrorTypeInvalid, "spec.expirationSeconds"},
		}},
	}
	base := userCSR(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			csr := base.DeepCopy()
			tc.mutate(csr)
			got := summarize(ValidateCreate(csr))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ValidateCreate() (-want +got):\n%s\nerrors: %v", diff, ValidateCreate(csr))
			}
		})
	}
}

func approved(at time.Time) certv1.CertificateSigningRequestCondition {
	return certv1.CertificateSigningRequestCondition{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove",
		LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

func denied(at time.Time) certv1.CertificateSigningRequestCondition {
	return certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "KubectlDeny",
		LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

func failed(at time.Time) certv1.CertificateSigningRequestCondition {
	return certv1.CertificateSigningRequestCondition{Type: certv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: ReasonSignerValidationFailure,
		LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

// issuing is a reservation condition of kubepki's signer.
func issuing(at time.Time, msg string) certv1.CertificateSigningRequestCondition {
	return certv1.CertificateSigningRequestCondition{Type: ConditionIssuing, Status: corev1.ConditionTrue, Reason: "Reserved",
		Message: msg, LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
}

// stored returns a CSR as the store would hold it after create.
func stored(t *testing.T) *certv1.CertificateSigningRequest {
	t.Helper()
	csr := userCSR(t)
	PrepareForCreate(csr, User{Name: "jane", Groups: []string{"dev", "system:authenticated"}})
	csr.UID = "uid-1"
	csr.ResourceVersion = "5"
	csr.CreationTimestamp = metav1.NewTime(time.Unix(1000, 0))
	return csr
}

// TestUpdateRules drives each endpoint through Prepare and Validate as the
// API server does, and checks which changes survive and which are refused.
func TestUpdateRules(t *testing.T) {
	t.Parallel()
	now := time.Unix(5000, 0)
	type endpoint int
	const (
		main endpoint = iota
		approval
		status
	)
	prepare := func(e endpoint, n, o *certv1.CertificateSigningRequest) field.ErrorList {
		switch e {
		case main:
			PrepareForUpdate(n, o)
			return ValidateUpdate(n, o)
		case approval:
			PrepareForApprovalUpdateAt(n, o, now)
			return ValidateApprovalUpdate(n, o)
		default:
			PrepareForStatusUpdateAt(n, o, now)
			return ValidateStatusUpdate(n, o)
		}
	}
	cert := certPEM(t)
	tests := []struct {
		name     string
		endpoint endpoint
		old      func(*certv1.CertificateSigningRequest)
		change   func(*certv1.CertificateSigningRequest)
		want     []fieldErr
		// check inspects the prepared object.
		check func(t *testing.T, got *certv1.CertificateSigningRequest)
	}{
		{name: "main: labels change", endpoint: main,
			change: func(c *certv1.CertificateSigningRequest) { c.Labels = map[string]string{"team": "a"} },
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if got.Labels["team"] != "a" {
					t.Errorf("labels = %v, want team=a", got.Labels)
				}
			}},
		{name: "main: spec and status reset", endpoint: main,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Spec.Username = "admin"
				c.Spec.Groups = []string{"system:masters"}
				c.Spec.Usages = []certv1.KeyUsage{certv1.UsageServerAuth}
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
				c.Status.Certificate = cert
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if got.Spec.Username != "jane" || len(got.Status.Conditions) != 0 || len(got.Status.Certificate) != 0 {
					t.Errorf("main update changed spec or status: %+v", got.Spec)
				}
			}},
		{name: "main: uid immutable", endpoint: main,
			change: func(c *certv1.CertificateSigningRequest) { c.UID = "other" },
			want:   []fieldErr{{field.ErrorTypeInvalid, "metadata.uid"}}},
		{name: "main: name immutable", endpoint: main,
			change: func(c *certv1.CertificateSigningRequest) { c.Name = "other" },
			want:   []fieldErr{{field.ErrorTypeInvalid, "metadata.name"}}},

		{name: "approval: approve", endpoint: approval,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"}}
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				c := got.Status.Conditions[0]
				if !c.LastUpdateTime.Time.Equal(now) || !c.LastTransitionTime.Time.Equal(now) {
					t.Errorf("timestamps = %v, %v; want %v", c.LastUpdateTime, c.LastTransitionTime, now)
				}
			}},
		{name: "approval: deny", endpoint: approval,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{denied(now)}
			}},
		{name: "approval: cannot set certificate or spec", endpoint: approval,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
				c.Status.Certificate = cert
				c.Spec.Username = "admin"
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Certificate) != 0 || got.Spec.Username != "jane" {
					t.Error("approval update kept certificate or spec")
				}
			}},
		{name: "approval: approve a denied CSR", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{denied(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = append(c.Status.Conditions, approved(now))
			},
			want: []fieldErr{{field.ErrorTypeInvalid, "status.conditions[1].type"}}},
		{name: "approval: remove approval", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Conditions = nil },
			want:   []fieldErr{{field.ErrorTypeForbidden, "status.conditions"}}},
		{name: "approval: remove Failed", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now), failed(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Conditions = c.Status.Conditions[:1] },
			want:   []fieldErr{{field.ErrorTypeForbidden, "status.conditions"}}},
		{name: "approval: cannot erase the signer's reservation", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now), issuing(now, "serial 1")}
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Conditions = c.Status.Conditions[:1] },
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Conditions) != 2 || got.Status.Conditions[1] != issuing(now, "serial 1") {
					t.Errorf("conditions = %+v, want Approved and the stored reservation", got.Status.Conditions)
				}
			}},
		{name: "approval: cannot change the signer's reservation", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{issuing(now, "serial 1"), approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions[0].Message = "serial 2"
				c.Status.Conditions[0].Status = corev1.ConditionFalse
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Conditions) != 2 || got.Status.Conditions[0].Type != certv1.CertificateApproved ||
					got.Status.Conditions[1] != issuing(now, "serial 1") {
					t.Errorf("conditions = %+v, want Approved and the stored reservation", got.Status.Conditions)
				}
			}},
		{name: "approval: cannot forge a reservation", endpoint: approval,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now), issuing(now, "serial 3")}
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certv1.CertificateApproved {
					t.Errorf("conditions = %+v, want Approved alone", got.Status.Conditions)
				}
			}},
		{name: "status: the signer writes its reservation", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = append(c.Status.Conditions, issuing(now, "serial 4"))
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Conditions) != 2 || got.Status.Conditions[1] != issuing(now, "serial 4") {
					t.Errorf("conditions = %+v, want Approved and the new reservation", got.Status.Conditions)
				}
			}},
		{name: "approval: transition time kept from stored condition", endpoint: approval,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(time.Unix(100, 0))}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions[0].LastTransitionTime = metav1.Time{}
				c.Status.Conditions[0].LastUpdateTime = metav1.Time{}
				c.Status.Conditions[0].Message = "again"
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				c := got.Status.Conditions[0]
				if !c.LastTransitionTime.Time.Equal(time.Unix(100, 0)) || !c.LastUpdateTime.Time.Equal(now) {
					t.Errorf("timestamps = update %v transition %v", c.LastUpdateTime, c.LastTransitionTime)
				}
			}},

		{name: "status: set certificate", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Certificate = cert },
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if len(got.Status.Certificate) == 0 {
					t.Error("status update dropped the certificate")
				}
			}},
		{name: "status: replace certificate", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
				c.Status.Certificate = cert
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Certificate = certPEM(t) },
			want:   []fieldErr{{field.ErrorTypeForbidden, "status.certificate"}}},
		{name: "status: invalid certificate", endpoint: status,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Certificate = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			},
			want: []fieldErr{{field.ErrorTypeInvalid, "status.certificate"}}},
		{name: "status: add Failed", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = append(c.Status.Conditions, failed(now))
			}},
		{name: "status: add Approved", endpoint: status,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			want: []fieldErr{{field.ErrorTypeForbidden, "status.conditions"}}},
		{name: "status: add Denied", endpoint: status,
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{denied(now)}
			},
			want: []fieldErr{{field.ErrorTypeForbidden, "status.conditions"}}},
		{name: "status: remove Approved", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) { c.Status.Conditions = nil },
			want:   []fieldErr{{field.ErrorTypeForbidden, "status.conditions"}}},
		{name: "status: modified Approved is restored", endpoint: status,
			old: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
			},
			change: func(c *certv1.CertificateSigningRequest) {
				c.Status.Conditions[0].Message = "forged"
				c.Status.Certificate = cert
			},
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if got.Status.Conditions[0].Message != "" {
					t.Errorf("Approved condition message = %q, want the stored one", got.Status.Conditions[0].Message)
				}
			}},
		{name: "status: spec reset", endpoint: status,
			change: func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/other" },
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				if got.Spec.SignerName != SignerKubeAPIServerClient {
					t.Errorf("signerName = %q, want the stored one", got.Spec.SignerName)
				}
			}},
		{name: "main: cannot set certificate even when validation is bypassed", endpoint: main,
			change: func(c *certv1.CertificateSigningRequest) { c.Annotations = map[string]string{"a": "b"} },
			check: func(t *testing.T, got *certv1.CertificateSigningRequest) {
				n := got.DeepCopy()
				n.Status.Certificate = cert
				if errs := ValidateUpdate(n, got); len(errs) == 0 {
					t.Error("ValidateUpdate accepted a certificate set through the main resource")
				}
				n = got.DeepCopy()
				n.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(now)}
				if errs := ValidateUpdate(n, got); len(errs) == 0 {
					t.Error("ValidateUpdate accepted an Approved condition through the main resource")
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old := stored(t)
			if tc.old != nil {
				tc.old(old)
			}
			n := old.DeepCopy()
			tc.change(n)
			errs := prepare(tc.endpoint, n, old)
			if diff := cmp.Diff(tc.want, summarize(errs)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\n%v", diff, errs)
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}

// TestUpdateToleratesStoredProblems checks the compatibility relaxations:
// an object stored with a problem stays updatable.
func TestUpdateToleratesStoredProblems(t *testing.T) {
	t.Parallel()
	old := stored(t)
	old.Spec.SignerName = LegacyUnknownSignerName
	old.Spec.Usages = []certv1.KeyUsage{"Unknown", "Unknown"}
	old.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(time.Unix(1, 0)), denied(time.Unix(1, 0)), {Type: "", Status: corev1.ConditionTrue}}
	old.Status.Certificate = []byte("junk")
	n := old.DeepCopy()
	n.Labels = map[string]string{"a": "b"}
	PrepareForUpdate(n, old)
	if errs := ValidateUpdate(n, old); len(errs) != 0 {
		t.Errorf("ValidateUpdate() = %v, want no errors", errs)
	}
}

func TestPrepareForCreate(t *testing.T) {
	t.Parallel()
	csr := userCSR(t)
	csr.Spec.Username = "system:admin"
	csr.Spec.UID = "forged"
	csr.Spec.Groups = []string{"system:masters"}
	csr.Spec.Extra = map[string]certv1.ExtraValue{"forged": {"x"}}
	csr.Status.Conditions = []certv1.CertificateSigningRequestCondition{approved(time.Unix(1, 0))}
	csr.Status.Certificate = certPEM(t)
	u := User{Name: "jane", UID: "u-1", Groups: []string{"dev", "system:authenticated"}, Extra: map[string][]string{"k": {"v"}}}
	PrepareForCreate(csr, u)
	u.Groups[0] = "mutated" // the CSR must hold a copy
	want := certv1.CertificateSigningRequestSpec{
		Request: csr.Spec.Request, SignerName: SignerKubeAPIServerClient, Usages: []certv1.KeyUsage{certv1.UsageClientAuth},
		Username: "jane", UID: "u-1", Groups: []string{"dev", "system:authenticated"}, Extra: map[string]certv1.ExtraValue{"k": {"v"}},
	}
	if diff := cmp.Diff(want, csr.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(certv1.CertificateSigningRequestStatus{}, csr.Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if errs := ValidateCreate(csr); len(errs) != 0 {
		t.Errorf("ValidateCreate() = %v", errs)
	}
}
