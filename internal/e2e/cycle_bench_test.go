package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// BenchmarkFullCycle measures the whole CSR cycle (create, approve, wait
// for the certificate, get) against a real kubepki serve process on each
// store: bbolt, and etcd with one and with three in-process members. 64
// clients share keep-alive HTTPS connections; the server runs in its own
// process, the clients and etcd in the benchmark's. Reported: cycles/s and
// the cycle latency's p50 and p99.
//
//	go test -run '^$' -bench FullCycle -benchtime 3000x ./internal/e2e
func BenchmarkFullCycle(b *testing.B) {
	for _, store := range []string{"bbolt", "etcd-1", "etcd-3"} {
		b.Run(store, func(b *testing.B) {
			var extra []string
			switch store {
			case "etcd-1":
				extra = []string{"--etcd-servers", strings.Join(etcdtest.Start(b, etcdtest.Options{Members: 1}).Endpoints(), ",")}
			case "etcd-3":
				extra = []string{"--etcd-servers", strings.Join(etcdtest.Start(b, etcdtest.Options{Members: 3}).Endpoints(), ",")}
			}
			r := newReplica(b, store, filepath.Join(b.TempDir(), "data"), extra...)
			r.start()
			r.logs.mu.Lock()
			r.logs.discard = true
			r.logs.mu.Unlock()
			benchCycles(b, r, 64)
		})
	}
}

func benchCycles(b *testing.B, r *replica, concurrency int) {
	ctx := b.Context()
	cs := r.client()
	// Requests are made up front so key generation is not measured.
	csrs := make([]*certv1.CertificateSigningRequest, b.N)
	for i := range csrs {
		csrs[i] = newUserCSR(b, fmt.Sprintf("cycle-%06d", i))
	}
	issued := newIssuedWaiter(b, ctx, cs)

	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var failures atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := oneCycle(ctx, cs, csrs[i], issued); err != nil {
					failures.Add(1)
					b.Errorf("cycle %d: %v", i, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failures.Load() > 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func oneCycle(ctx context.Context, cs kubernetes.Interface, csr *certv1.CertificateSigningRequest, issued *issuedWaiter) error {
	done := issued.expect(csr.Name)
	created, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if err := approve(ctx, cs, created); err != nil {
		return err
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s not issued within 60s", csr.Name)
	}
	got, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, csr.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if len(got.Status.Certificate) == 0 {
		return fmt.Errorf("%s: get after issue has no certificate", csr.Name)
	}
	return nil
}

// issuedWaiter watches every CSR once and wakes the client waiting for
// each name when its certificate appears.
type issuedWaiter struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	seen    map[string]bool
}

func newIssuedWaiter(tb testing.TB, ctx context.Context, cs kubernetes.Interface) *issuedWaiter {
	tb.Helper()
	w := &issuedWaiter{waiting: map[string]chan struct{}{}, seen: map[string]bool{}}
	client := cs.CertificatesV1().CertificateSigningRequests()
	list, err := client.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	ended := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-ended })
	go func() {
		defer close(ended)
		// Follow watches again when the server ends the stream (a bbolt
		// server ends a watcher that falls behind).
		_, err := apiservertest.Follow(ctx, client, list.ResourceVersion, func(typ watch.EventType, c *certv1.CertificateSigningRequest) bool {
			if typ == watch.Deleted || len(c.Status.Certificate) == 0 {
				return true
			}
			w.mu.Lock()
			if ch, ok := w.waiting[c.Name]; ok {
				close(ch)
				delete(w.waiting, c.Name)
			}
			w.seen[c.Name] = true
			w.mu.Unlock()
			return true
		})
		if err != nil && ctx.Err() == nil {
			tb.Errorf("watch for issued certificates: %v", err)
		}
	}()
	return w
}

// expect registers interest in name before its create is sent.
func (w *issuedWaiter) expect(name string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.seen[name] {
		close(ch)
		return ch
	}
	w.waiting[name] = ch
	return ch
}
