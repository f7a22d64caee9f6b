package cli

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepki/kubepki/internal/pki"
)

// TestServePendingLimitFlag: --max-pending-csrs-per-user reaches the
// server: a plain user's create beyond it is refused with 403 naming the
// flag, while another user's creates go on.
func TestServePendingLimitFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, stop := startServe(t, dir, "--max-pending-csrs-per-user", "2")
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	admin, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "pki", "ca.crt"), filepath.Join(dir, "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(key.Public(), pki.CertOptions{Subject: pkix.Name{CommonName: "mallory"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	user := rest.AnonymousClientConfig(admin)
	user.CertData, user.KeyData = pki.MarshalCertificatePEM(cert), keyPEM
	client := func(cfg *rest.Config) func(string) error {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		csrs := cs.CertificatesV1().CertificateSigningRequests()
		return func(name string) error {
			k, err := pki.GenerateKey(pki.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			der, err := pki.CreateCSR(k, pkix.Name{CommonName: name}, pki.SANs{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = csrs.Create(t.Context(), &certv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: certv1.CertificateSigningRequestSpec{Request: pki.MarshalCSRPEM(der),
					SignerName: certv1.KubeAPIServerClientSignerName, Usages: []certv1.KeyUsage{certv1.UsageClientAuth}},
			}, metav1.CreateOptions{})
			return err
		}
	}
	mallory, other := client(user), client(admin)
	for i := range 2 {
		if err := mallory(fmt.Sprintf("m-%d", i)); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	// The index is synced once serve answers; allow it a moment anyway.
	deadline := time.Now().Add(10 * time.Second)
	for i := 2; ; i++ {
		err := mallory(fmt.Sprintf("m-%d", i))
		if apierrors.IsForbidden(err) {
			if !strings.Contains(err.Error(), "--max-pending-csrs-per-user") {
				t.Errorf("refusal %q does not name the flag", err)
			}
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("create beyond the limit: %v, want 403", err)
		}
	}
	for i := range 2 {
		if err := other(fmt.Sprintf("a-%d", i)); err != nil {
			t.Fatalf("another user's create %d: %v", i, err)
		}
	}
}
