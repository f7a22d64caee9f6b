package apiserver

import (
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// newStoreServer is a Server with the default policy on a bbolt store of
// its own, trusting client certificates of ca, for the tests that drive
// its handler or its watch code directly.
func newStoreServer(tb testing.TB, ca *pki.CA, maxWatch time.Duration) (*Server, *bolt.Store) {
	tb.Helper()
	store, err := bolt.Open(filepath.Join(tb.TempDir(), "kubepki.db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	policy := DefaultPolicy()
	s, err := New(Config{Store: store, Authenticator: NewX509Authenticator(pool, time.Now),
		Authorizer: NewRBACAuthorizer(policy), Policy: policy, MaxWatchDuration: maxWatch})
	if err != nil {
		tb.Fatal(err)
	}
	return s, store
}
