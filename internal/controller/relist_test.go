package controller_test

import (
	"context"
	"sync/atomic"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"

	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/storage/bolt"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

// TestSignerSurvivesLostWatches runs on a store that ends any watcher one
// event behind and keeps only two events of history, and whose watches are
// read slowly (storagetest.LagWatches), so the controllers' watch keeps ending and
// resuming fails with 410 Gone: the informer must relist, and every
// approved CSR is still issued exactly once.
func TestSignerSurvivesLostWatches(t *testing.T) {
	t.Parallel()
	for _, over := range []string{"local", "https"} {
		t.Run(over, func(t *testing.T) {
			t.Parallel()
			bs, err := bolt.Open(filepath.Join(t.TempDir(), "kubepki.db"), bolt.Options{WatchBufferSize: 1, HistorySize: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bs.Close() })
			e := envFor(t, apiservertest.Start(t, apiservertest.Options{Store: &storagetest.LagWatches{Interface: bs, Lag: 5 * time.Millisecond}}))
			client := e.ctrl
			if over == "https" {
				client = e.ctrlHTTPS
			}
			rec := newRecorder()
			counted := &listCounter{CertificateSigningRequestInterface: client}
			startManager(t, controller.Config{Client: counted, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), DisableCleaner: true,
				ResyncPeriod: 0})

			const n = 30
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					name := fmt.Sprintf("lost-%02d", i)
					in, _ := userCSR(t, name)
					create(t, e.admin, in)
					approve(t, e.admin, name)
				})
			}
			wg.Wait()
			for i := range n {
				name := fmt.Sprintf("lost-%02d", i)
				waitIssued(t, e.admin, name)
				var signed int
				eventually(func() bool { signed = rec.count("csr signed", name); return signed >= 1 })
				if signed != 1 {
					t.Errorf("%s: signed %d times, want 1", name, signed)
				}
			}
			if n := counted.lists.Load(); n < 2 {
				t.Errorf("the informer fetched the full state %d times; the test did not force a relist", n)
			} else {
				t.Logf("the informer fetched the full state %d times", n)
			}
		})
	}
}

// listCounter counts full resynchronisations on the real client: List
// calls and watches that ask for the initial state (client-go's WatchList).
type listCounter struct {
	certv1client.CertificateSigningRequestInterface
	lists atomic.Int32
}

func (c *listCounter) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		c.lists.Add(1)
	}
	return c.CertificateSigningRequestInterface.Watch(ctx, opts)
}

func (c *listCounter) List(ctx context.Context, opts metav1.ListOptions) (*certv1.CertificateSigningRequestList, error) {
	c.lists.Add(1)
	return c.CertificateSigningRequestInterface.List(ctx, opts)
}
