package certificates

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	sigjson "sigs.k8s.io/json"
)

func fuzzSeeds(f *testing.F) [][]byte {
	key := testKey(f, "ecdsa-p256")
	good := csrPEM(f, key, &x509.CertificateRequest{Subject: subject("jane", "dev")})
	der := csrDER(f, key, &x509.CertificateRequest{Subject: subject("jane", "dev")})
	twoCNs := csrPEM(f, key, &x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "b"},
	}}})
	return [][]byte{
		good,
		der,
		twoCNs,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der[:len(der)-10]}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x80}}),
		append(append([]byte{}, good...), good...),
		[]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"),
		nil,
	}
}

// FuzzParseRequest checks that any spec.request yields a request or an
// error, never a panic, and that an accepted request passes the policy it
// claims.
func FuzzParseRequest(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err != nil {
			if req != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		if err := req.CheckSignature(); err != nil {
			t.Fatalf("accepted request with a bad signature: %v", err)
		}
		if err := CheckPublicKey(req.PublicKey); err != nil {
			t.Fatalf("accepted request with a bad key: %v", err)
		}
	})
}

// FuzzValidateCreate decodes a JSON CSR object as the API server does and
// runs the create path; it must never panic, and an object it accepts must
// carry a request ParseRequest accepts.
func FuzzValidateCreate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		obj := certv1.CertificateSigningRequest{}
		obj.Name = "c"
		obj.Spec.Request = s
		obj.Spec.SignerName = SignerKubeAPIServerClient
		obj.Spec.Usages = []certv1.KeyUsage{certv1.UsageClientAuth}
		b, err := json.Marshal(obj)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"metadata":{"name":".."},"spec":{"usages":["client auth","client auth"],"signerName":"a/b/c","expirationSeconds":1},"status":{"conditions":[{"type":"Approved","status":"True"},{"type":"Denied","status":"True"}]}}`))
	f.Add([]byte(`{"metadata":{"generateName":"csr-"},"spec":{"signerName":"kubernetes.io/legacy-unknown"},"status":{"certificate":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var csr certv1.CertificateSigningRequest
		if err := sigjson.UnmarshalCaseSensitivePreserveInts(data, &csr); err != nil {
			return
		}
		old := csr.DeepCopy()
		PrepareForCreate(&csr, User{Name: "fuzz", Groups: []string{"system:authenticated"}})
		errs := ValidateCreate(&csr)
		if len(errs) == 0 {
			if _, err := ParseRequest(csr.Spec.Request); err != nil {
				t.Fatalf("ValidateCreate accepted a request ParseRequest refuses: %v", err)
			}
			if len(csr.Status.Conditions) != 0 || len(csr.Status.Certificate) != 0 {
				t.Fatal("created CSR kept a status")
			}
		}
		// The update paths must not panic either.
		n := old.DeepCopy()
		PrepareForStatusUpdate(n, &csr)
		_ = ValidateStatusUpdate(n, &csr)
		n = old.DeepCopy()
		PrepareForApprovalUpdate(n, &csr)
		_ = ValidateApprovalUpdate(n, &csr)
	})
}
