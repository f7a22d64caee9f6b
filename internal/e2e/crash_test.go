package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBoltCrashRecovery kills a bbolt-backed server with SIGKILL at random
// points under load, ten times. After each kill the file passes bbolt's
// consistency check, and after each restart every acknowledged create and
// approval is there; at the end every approved CSR is issued.
func TestBoltCrashRecovery(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	r := newReplica(t, "bolt", dir)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("kill schedule seed %d", seed)

	var (
		mu       sync.Mutex
		created  []string
		approved []string
	)
	const rounds = 10
	for round := range rounds {
		r.start()
		cs := r.client()
		// Everything acknowledged before the last kill survived it.
		mu.Lock()
		for _, n := range created {
			if _, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, n, metav1.GetOptions{}); err != nil {
				t.Fatalf("round %d: acknowledged create %s lost: %v", round, n, err)
			}
		}
		mu.Unlock()
		for _, n := range approved {
			c, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, n, metav1.GetOptions{})
			if err != nil || len(c.Status.Conditions) == 0 {
				t.Fatalf("round %d: acknowledged approval of %s lost: %v", round, n, err)
			}
		}

		loadCtx, stopLoad := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; loadCtx.Err() == nil && i < 200; i++ {
					csr := newUserCSR(t, fmt.Sprintf("crash-%02d-%d-%03d", round, w, i))
					c, err := cs.CertificatesV1().CertificateSigningRequests().Create(loadCtx, csr, metav1.CreateOptions{})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					created = append(created, c.Name)
					mu.Unlock()
					if err := approve(loadCtx, cs, c); err != nil {
						return
					}
					mu.Lock()
					approved = append(approved, c.Name)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
		r.kill()
		stopLoad()
		wg.Wait()

		db, err := bbolt.Open(filepath.Join(dir, "kubepki.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: open the store after SIGKILL: %v", round, err)
		}
		err = db.View(func(tx *bbolt.Tx) error {
			for cerr := range tx.Check() {
				return cerr
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("round %d: bbolt check after SIGKILL: %v", round, err)
		}
	}
	if len(approved) < rounds {
		t.Fatalf("only %d approvals in %d rounds: the load did not run", len(approved), rounds)
	}
	r.start()
	verifyIssued(t, ctx, r.client(), approved, readCA(t, dir), 120*time.Second)
	t.Logf("%d creates and %d approvals acknowledged across %d kills", len(created), len(approved), rounds)
}
