package apiserver_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// TestListByteBudget: a page of a paged list stops once it has read its
// byte budget, whatever its limit, and the continue tokens then walk every
// object exactly once, in order, with the remaining count.
func TestListByteBudget(t *testing.T) {
	t.Parallel()
	const budget = 40 << 10
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) { c.MaxListPageBytes = budget }})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	const n = 60
	for i := range n {
		c := newCSR(t, "big-"+strconv.Itoa(100+i), "big")
		c.Annotations = map[string]string{"pad": strings.Repeat("p", 8<<10)}
		c.Labels = map[string]string{"odd": strconv.FormatBool(i%2 == 1)}
		if _, err := cs.Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A client that did not ask to page gets everything at once, as
	// from kube-apiserver (many ignore a continue token): its budget is
	// larger than these 60 objects.
	all, err := cs.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(all.Items) != n || all.Continue != "" {
		t.Fatalf("list without limit = %d items, continue %q, %v; want all %d at once", len(all.Items), all.Continue, err, n)
	}
	for _, tc := range []struct {
		name string
		opts metav1.ListOptions
		want int
	}{
		{"limit above the budget", metav1.ListOptions{Limit: 50}, n},
		{"limit below the budget", metav1.ListOptions{Limit: 2}, n},
		{"label selector", metav1.ListOptions{LabelSelector: "odd=true", Limit: 500}, n / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			var names []string
			pages, rv := 0, ""
			for {
				list, err := cs.List(t.Context(), opts)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				pages++
				// 8 KB objects in a 40 KB budget: at most 5 and a bit.
				if len(list.Items) > 6 || (opts.Limit > 0 && int64(len(list.Items)) > opts.Limit) {
					t.Errorf("page %d has %d items, over the byte budget or the limit", pages, len(list.Items))
				}
				if rv == "" {
					rv = list.ResourceVersion
				} else if list.ResourceVersion != rv {
					t.Errorf("page %d at resourceVersion %s, the first at %s", pages, list.ResourceVersion, rv)
				}
				for _, c := range list.Items {
					names = append(names, c.Name)
				}
				if tc.opts.LabelSelector == "" && list.Continue != "" {
					if list.RemainingItemCount == nil || int(*list.RemainingItemCount) != n-len(names) {
						t.Errorf("page %d remainingItemCount = %v, want %d", pages, list.RemainingItemCount, n-len(names))
					}
				}
				if list.Continue == "" {
					break
				}
				opts.Continue = list.Continue
				if pages > 2*n {
					t.Fatal("the continue tokens do not end")
				}
			}
			if len(names) != tc.want || pages < 2 {
				t.Fatalf("%d objects in %d pages, want %d over several pages", len(names), pages, tc.want)
			}
			for i := 1; i < len(names); i++ {
				if names[i] <= names[i-1] {
					t.Fatalf("objects out of order or repeated: %s after %s", names[i], names[i-1])
				}
			}
		})
	}
}

// countingStore is a real bbolt store that records how many lists run
// at once, each held a little so that they overlap when allowed to.
type countingStore struct {
	*bolt.Store
	now, peak atomic.Int32
}

func (s *countingStore) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(20 * time.Millisecond)
	return s.Store.List(ctx, prefix, opts)
}

// TestConcurrentListsBounded: clients' list pages are read a few at a
// time; the others wait for their turn and succeed.
func TestConcurrentListsBounded(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: openBolt(t, bolt.Options{})}
	srv := apiservertest.Start(t, apiservertest.Options{Store: store, Configure: func(c *apiserver.Config) { c.MaxConcurrentLists = 2 }})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := cs.Create(t.Context(), newCSR(t, "one", "one"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wait until the controllers' own start-up lists are done.
	waitFor(t, "the controllers' lists", func() bool { return store.now.Load() == 0 })
	store.peak.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			if _, err := cs.List(t.Context(), metav1.ListOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("list: %v", err)
	}
	if p := store.peak.Load(); p != 2 {
		t.Errorf("%d lists ran at once, want 2 (the limit, reached)", p)
	}
}
