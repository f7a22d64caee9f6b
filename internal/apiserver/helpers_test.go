package apiserver_test

import (
	"context"
	"crypto/x509/pkix"
	"path/filepath"
	"slices"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// csrPEM makes a fresh key and a PEM CSR for cn and orgs.
func csrPEM(t testing.TB, cn string, orgs ...string) []byte {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateCSR(key, pkix.Name{CommonName: cn, Organization: orgs}, pki.SANs{})
	if err != nil {
		t.Fatal(err)
	}
	return pki.MarshalCSRPEM(der)
}

// newCSR returns a valid client CSR object named name.
func newCSR(t testing.TB, name, cn string, orgs ...string) *certv1.CertificateSigningRequest {
	t.Helper()
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    csrPEM(t, cn, orgs...),
			SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageClientAuth, certv1.UsageDigitalSignature},
		},
	}
}

// openBolt opens a bbolt store in a fresh temporary directory, closed at
// the end of the test, for tests that wrap or tune the store they serve.
func openBolt(t testing.TB, opts bolt.Options) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "kubepki.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
