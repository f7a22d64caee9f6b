package apiserver_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage/bolt"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

// watchStream opens a raw watch and returns a reader of its events.
type rawWatch struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openWatch(t *testing.T, c *http.Client, url string, header ...string) *rawWatch {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch %s: %d", url, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &rawWatch{resp: resp, sc: sc}
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (w *rawWatch) next(t *testing.T) (string, map[string]any) {
	t.Helper()
	if !w.sc.Scan() {
		t.Fatalf("watch ended: %v", w.sc.Err())
	}
	var ev rawEvent
	if err := json.Unmarshal(w.sc.Bytes(), &ev); err != nil {
		t.Fatalf("watch line %q: %v", w.sc.Text(), err)
	}
	var obj map[string]any
	if err := json.Unmarshal(ev.Object, &obj); err != nil {
		t.Fatal(err)
	}
	return ev.Type, obj
}

func metaOf(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	return m
}

func TestWatchSemantics(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	base := srv.URL + csrPath
	first, err := cs.Create(t.Context(), newCSR(t, "w1", "w1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// resourceVersion=0: the current object as a synthetic ADDED, then changes.
	w0 := openWatch(t, admin, base+"?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dw1")
	// resourceVersion=N: only changes after N.
	wN := openWatch(t, admin, base+"?watch=true&resourceVersion="+first.ResourceVersion)
	// Table watch with bookmarks.
	wT := openWatch(t, admin, base+"?watch=true&resourceVersion="+first.ResourceVersion,
		"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	typ, obj := w0.next(t)
	if typ != "ADDED" || metaOf(obj)["name"] != "w1" || obj["kind"] != "CertificateSigningRequest" {
		t.Errorf("rv=0 first event = %s %v, want ADDED w1 with kind", typ, metaOf(obj)["name"])
	}
	first.Labels = map[string]string{"a": "b"}
	upd, err := cs.Update(t.Context(), first, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Create(t.Context(), newCSR(t, "w2", "w2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	typ, obj = w0.next(t)
	if typ != "MODIFIED" || metaOf(obj)["resourceVersion"] != upd.ResourceVersion {
		t.Errorf("rv=0 second event = %s rv %v, want MODIFIED rv %s", typ, metaOf(obj)["resourceVersion"], upd.ResourceVersion)
	}
	typ, obj = wN.next(t)
	if typ != "MODIFIED" || metaOf(obj)["name"] != "w1" {
		t.Errorf("rv=N first event = %s %v, want MODIFIED w1 (nothing before N)", typ, metaOf(obj)["name"])
	}
	typ, obj = wN.next(t)
	if typ != "ADDED" || metaOf(obj)["name"] != "w2" {
		t.Errorf("rv=N second event = %s %v, want ADDED w2", typ, metaOf(obj)["name"])
	}
	typ, obj = wT.next(t)
	rows, _ := obj["rows"].([]any)
	if typ != "MODIFIED" || obj["kind"] != "Table" || len(rows) != 1 {
		t.Fatalf("Table watch event = %s kind %v rows %d, want a one-row Table", typ, obj["kind"], len(rows))
	}
	cells, _ := rows[0].(map[string]any)["cells"].([]any)
	if len(cells) != 6 || cells[0] != "w1" || cells[5] != "Pending" {
		t.Errorf("Table row cells = %v", cells)
	}
	if err := cs.Delete(t.Context(), "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if typ, obj = w0.next(t); typ != "DELETED" || metaOf(obj)["name"] != "w1" {
		t.Errorf("after delete: %s %v, want DELETED w1", typ, metaOf(obj)["name"])
	}

	// WatchList: ADDED for current objects, then the initial-events-end bookmark.
	wl := openWatch(t, admin, base+"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
	typ, obj = wl.next(t)
	if typ != "ADDED" || metaOf(obj)["name"] != "w2" {
		t.Errorf("WatchList first = %s %v, want ADDED w2", typ, metaOf(obj)["name"])
	}
	typ, obj = wl.next(t)
	ann, _ := metaOf(obj)["annotations"].(map[string]any)
	if typ != "BOOKMARK" || ann[metav1.InitialEventsAnnotationKey] != "true" {
		t.Errorf("WatchList second = %s %v, want the initial-events-end BOOKMARK", typ, obj)
	}
}

func TestWatchBookmarksAndTimeout(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) {
		c.BookmarkInterval = 50 * time.Millisecond
	}})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	w := openWatch(t, admin, srv.URL+csrPath+"?watch=true&allowWatchBookmarks=true&timeoutSeconds=5")
	typ, obj := w.next(t)
	if typ != "BOOKMARK" || obj["kind"] != "CertificateSigningRequest" || metaOf(obj)["resourceVersion"] == "" {
		t.Errorf("first event = %s %v, want a BOOKMARK with a resourceVersion", typ, obj)
	}
	// Without allowWatchBookmarks none come; the stream ends at timeoutSeconds.
	w2 := openWatch(t, admin, srv.URL+csrPath+"?watch=true&timeoutSeconds=1")
	if w2.sc.Scan() {
		t.Errorf("watch without bookmarks sent %q, want nothing before its timeout", w2.sc.Text())
	}
}

func TestWatchTooOld(t *testing.T) {
	t.Parallel()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "small.db"), bolt.Options{HistorySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := apiservertest.Start(t, apiservertest.Options{Store: store})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	var firstRV string
	for i := range 6 {
		c, err := cs.Create(t.Context(), newCSR(t, fmt.Sprintf("old-%d", i), "x"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			firstRV = c.ResourceVersion
		}
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	w := openWatch(t, admin, srv.URL+csrPath+"?watch=true&resourceVersion="+firstRV)
	typ, obj := w.next(t)
	if typ != "ERROR" || obj["kind"] != "Status" || obj["code"] != float64(410) || obj["reason"] != "Expired" {
		t.Errorf("watch from a compacted revision = %s %v, want ERROR 410 Expired", typ, obj)
	}
	// client-go sees it as an error event too.
	cw, err := cs.Watch(t.Context(), metav1.ListOptions{ResourceVersion: firstRV})
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Stop()
	select {
	case ev := <-cw.ResultChan():
		if ev.Type != watch.Error {
			t.Errorf("client-go event = %s, want ERROR", ev.Type)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event from a compacted watch")
	}
	// So does the in-process client.
	local, err := srv.API.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	lw, err := local.Watch(t.Context(), metav1.ListOptions{ResourceVersion: firstRV})
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Stop()
	ev := nextEvent(t, lw)
	if ev.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
		t.Errorf("local watch from a compacted revision = %s %+v, want ERROR 410 Expired", ev.Type, ev.Object)
	}
}

func TestInformerSyncsAndSeesChanges(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup)
	for i := range 3 {
		if _, err := cs.CertificatesV1().CertificateSigningRequests().Create(t.Context(), newCSR(t, "inf-"+strconv.Itoa(i), "x"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Certificates().V1().CertificateSigningRequests().Informer()
	added := make(chan string, 10)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if c, ok := obj.(*certv1.CertificateSigningRequest); ok {
			added <- c.Name
		}
	}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	ctx, cancel := contextWithTimeout(t, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if n := len(inf.GetStore().List()); n != 3 {
		t.Errorf("informer cache has %d CSRs, want 3", n)
	}
	if _, err := cs.CertificatesV1().CertificateSigningRequests().Create(t.Context(), newCSR(t, "inf-late", "x"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case name := <-added:
			if name == "inf-late" {
				return
			}
		case <-ctx.Done():
			t.Fatal("informer never saw inf-late")
		}
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) { c.MaxListPage = 4 }})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i := range 10 {
		c := newCSR(t, fmt.Sprintf("page-%02d", i), "x")
		if i%2 == 0 {
			c.Labels = map[string]string{"even": "yes"}
		}
		if _, err := cs.Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		selector string
		limit    int64
		want     int
	}{{"", 3, 10}, {"", 0, 10}, {"even=yes", 2, 5}, {"even!=yes", 100, 5}} {
		var names []string
		cont := ""
		for i := 0; i < 20; i++ {
			list, err := cs.List(t.Context(), metav1.ListOptions{LabelSelector: tc.selector, Limit: tc.limit, Continue: cont})
			if err != nil {
				t.Fatal(err)
			}
			if max := max(tc.limit, 0); (max > 0 && int64(len(list.Items)) > max) || len(list.Items) > 4 {
				t.Errorf("page of %d items for limit %d and page cap 4", len(list.Items), tc.limit)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if cont = list.Continue; cont == "" {
				break
			}
		}
		if len(names) != tc.want {
			t.Errorf("List(%q, limit %d) paged to %d items %v, want %d", tc.selector, tc.limit, len(names), names, tc.want)
		}
		if strings.Join(names, ",") != strings.Join(uniqueSorted(names), ",") {
			t.Errorf("paged names %v repeat or are out of order", names)
		}
	}
}

func TestWatchInitialEventsAcrossPages(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) { c.MaxListPage = 2 }})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i := range 5 {
		if _, err := cs.Create(t.Context(), newCSR(t, fmt.Sprintf("ip-%d", i), "x"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	w := openWatch(t, admin, srv.URL+csrPath+"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
	for i := range 5 {
		if typ, obj := w.next(t); typ != "ADDED" || metaOf(obj)["name"] != fmt.Sprintf("ip-%d", i) {
			t.Fatalf("initial event %d = %s %v", i, typ, metaOf(obj)["name"])
		}
	}
	if typ, _ := w.next(t); typ != "BOOKMARK" {
		t.Errorf("after 5 initial events: %s, want BOOKMARK", typ)
	}
}

func TestListContinueTooOld(t *testing.T) {
	t.Parallel()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "small.db"), bolt.Options{HistorySize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := apiservertest.Start(t, apiservertest.Options{Store: store})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i := range 3 {
		if _, err := cs.Create(t.Context(), newCSR(t, fmt.Sprintf("lc-%d", i), "x"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := cs.List(t.Context(), metav1.ListOptions{Limit: 1})
	if err != nil || page.Continue == "" {
		t.Fatalf("first page: %v, continue %q", err, page.Continue)
	}
	for i := range 5 {
		if _, err := cs.Create(t.Context(), newCSR(t, fmt.Sprintf("lc-new-%d", i), "x"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = cs.List(t.Context(), metav1.ListOptions{Limit: 1, Continue: page.Continue})
	if err == nil {
		t.Skip("the store still serves the old snapshot; nothing to check")
	}
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("continue from compacted history = %v, want 410 Expired", err)
	}
}

// TestWatchFallenBehindResumes checks that a watch the store drops for
// falling behind ends without an error event, and that watching again
// from the last resourceVersion seen continues with every later event,
// in order, none lost and none twice: client-go then resumes instead of
// re-listing.
func TestWatchFallenBehindResumes(t *testing.T) {
	t.Parallel()
	// A buffer of one event, read 5 ms apart: a burst of creates overruns
	// it, and the store ends the watch.
	store := &storagetest.LagWatches{Interface: openBolt(t, bolt.Options{WatchBufferSize: 1}), Lag: 5 * time.Millisecond}
	srv := apiservertest.Start(t, apiservertest.Options{Store: store})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	start, err := cs.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	const rounds, perRound = 10, 32
	var want []string
	created := make(chan error, perRound)
	rv, ended, seen := start.ResourceVersion, 0, map[string]bool{}
	var got []string
	for round := 0; round < rounds && (ended == 0 || len(got) < len(want)); round++ {
		w, err := cs.Watch(t.Context(), metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatalf("watch from %s: %v", rv, err)
		}
		for i := range perRound {
			name := fmt.Sprintf("burst-%d-%d", round, i)
			want = append(want, name)
			go func() {
				_, err := cs.Create(t.Context(), newCSR(t, name, "x"), metav1.CreateOptions{})
				created <- err
			}()
		}
		for range perRound {
			if err := <-created; err != nil {
				t.Fatal(err)
			}
		}
		// Read until every CSR so far arrived or the server ended the watch.
		timeout := time.After(10 * time.Second)
	read:
		for len(got) < len(want) {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					ended++
					break read
				}
				if ev.Type == watch.Error {
					t.Fatalf("watch from %s: error event %v, want the stream to end without one", rv, ev.Object)
				}
				csr := ev.Object.(*certv1.CertificateSigningRequest)
				if ev.Type != watch.Added || seen[csr.Name] {
					t.Fatalf("event %s %s: want each CSR ADDED exactly once", ev.Type, csr.Name)
				}
				seen[csr.Name] = true
				got = append(got, csr.Name)
				rv = csr.ResourceVersion
			case <-timeout:
				t.Fatalf("watch from %s: %d of %d events after 10s", rv, len(got), len(want))
			}
		}
		w.Stop()
	}
	if ended == 0 {
		t.Fatalf("no watch fell behind in %d bursts of %d concurrent creates; the test did not exercise the path", rounds, perRound)
	}
	// Whatever the last watch missed, one more from the last version has.
	w, err := cs.Watch(t.Context(), metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type != watch.Added {
				t.Fatalf("final watch from %s: %v %v after %d of %d", rv, ok, ev.Type, len(got), len(want))
			}
			got = append(got, ev.Object.(*certv1.CertificateSigningRequest).Name)
		case <-timeout:
			t.Fatalf("final watch: %d of %d events after 10s", len(got), len(want))
		}
	}
	// Store order is revision order: the names of one burst may
	// interleave, but every created CSR arrives exactly once.
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("watches together delivered %d events %v, want %v", len(got), got, want)
	}
	t.Logf("%d of %d watches ended early and were resumed", ended, rounds)
}

// TestWatchLabelSelectorTransitions checks what a watch with a label
// selector sends when an update moves a CSR into or out of its
// selection: ADDED and DELETED, as kube-apiserver does, and MODIFIED only
// while it stays selected. Two watches share each decoded event (and the
// object before it), one over HTTPS and one in-process.
func TestWatchLabelSelectorTransitions(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	local, err := srv.API.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	opts := metav1.ListOptions{LabelSelector: "team=a"}
	remoteWatch, err := cs.Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer remoteWatch.Stop()
	localWatch, err := local.Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer localWatch.Stop()

	c, err := cs.Create(ctx, newCSR(t, "moving", "x"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relabel := func(team string) {
		t.Helper()
		c.Labels = map[string]string{"team": team, "step": team + "-" + c.ResourceVersion}
		if c, err = cs.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("a") // into the selection
	relabel("a") // stays in it
	lastSelected := c.Labels
	relabel("b") // out of it
	leftAt := c.ResourceVersion
	relabel("c") // still out
	relabel("a") // back in
	want := []string{"ADDED moving", "MODIFIED moving", "DELETED moving", "ADDED moving"}
	for name, w := range map[string]watch.Interface{"https": remoteWatch, "local": localWatch} {
		var got []string
		for len(got) < len(want) {
			ev := nextEvent(t, w)
			if ev.Type == watch.Bookmark {
				continue
			}
			got = append(got, eventName(ev))
			// As kube-apiserver's watch cache: the DELETED of an object
			// that leaves the selection carries it as it was while
			// selected, at the resourceVersion of the update.
			if o, ok := ev.Object.(*certv1.CertificateSigningRequest); ok && ev.Type == watch.Deleted &&
				(!maps.Equal(o.Labels, lastSelected) || o.ResourceVersion != leftAt) {
				t.Errorf("%s watch: DELETED object has labels %v at resourceVersion %s, want %v at %s",
					name, o.Labels, o.ResourceVersion, lastSelected, leftAt)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s watch with a label selector (-want +got):\n%s", name, d)
		}
	}
}
