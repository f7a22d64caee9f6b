package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// flushRecorder is a watchSink that writes down what the stream asks of
// it, and ends the stream once it has seen want events and a flush.
type flushRecorder struct {
	want   int
	events int
	calls  []string
	done   context.CancelFunc
}

func (r *flushRecorder) event(typ watch.EventType, csr *certv1.CertificateSigningRequest, _ *sharedEvent) error {
	r.events++
	r.calls = append(r.calls, string(typ)+" "+csr.Name)
	return nil
}

func (r *flushRecorder) bookmark(rev int64, _ bool) error {
	r.calls = append(r.calls, fmt.Sprint("BOOKMARK ", rev))
	return nil
}

func (r *flushRecorder) failure(st *metav1.Status) { r.calls = append(r.calls, "ERROR "+st.Message) }

func (r *flushRecorder) flush() {
	r.calls = append(r.calls, "flush")
	if r.events >= r.want {
		r.done()
	}
}

// TestStreamFlushesOncePerBurst: events already waiting in the store
// watch are written together and flushed once, after the last of them,
// also when that last one is filtered out by the selector.
func TestStreamFlushesOncePerBurst(t *testing.T) {
	t.Parallel()
	s, store := newStoreServer(t, pkitest.NewCA(t), 10*time.Second)
	ctx := t.Context()
	put := func(name, team string) int64 {
		t.Helper()
		csr := &certv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"team": team}},
			Spec:       certv1.CertificateSigningRequestSpec{SignerName: "example.com/x", Usages: []certv1.KeyUsage{certv1.UsageClientAuth}},
		}
		value, err := encodeStored(csr)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := store.Create(ctx, csrKey(name), value)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	from := put("before", "a")
	p, err := s.parseWatch(url.Values{"resourceVersion": {fmt.Sprint(from)}, "labelSelector": {"team=a"}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, ow, err := s.openWatch(ctx, "tester", p)
	if err != nil {
		t.Fatal(err)
	}
	defer ow.stop()
	const burst = 20
	want := []string{"flush"} // after the (empty) initial state
	for i := range burst - 1 {
		name := fmt.Sprintf("b%02d", i)
		put(name, "a")
		want = append(want, "ADDED "+name)
	}
	put("other-team", "b") // the burst's last event is not for this watch
	want = append(want, "flush")
	deadline := time.Now().Add(10 * time.Second)
	for len(ow.sw.Events()) < burst {
		if time.Now().After(deadline) {
			t.Fatalf("the store watch holds %d events, want %d", len(ow.sw.Events()), burst)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sctx, cancel := context.WithCancel(wctx)
	defer cancel()
	rec := &flushRecorder{want: burst - 1, done: cancel}
	s.stream(sctx, ow, rec, func(err error) *metav1.Status { return &metav1.Status{Message: err.Error()} })
	if !slices.Equal(rec.calls, want) {
		t.Errorf("stream calls:\n got %q\nwant %q", rec.calls, want)
	}
}

// countingWriter is a response writer that counts its flushes.
type countingWriter struct {
	*httptest.ResponseRecorder
	flushes int
}

func (w *countingWriter) Flush() { w.flushes++; w.ResponseRecorder.Flush() }

// TestWatchEncoderBoundsBursts: the encoder flushes by itself every
// maxWatchBurst events, so that the write deadline armed at a burst's
// first event covers a bounded amount of data; flush after a partial
// burst sends the rest, and a flush with nothing written does nothing.
func TestWatchEncoderBoundsBursts(t *testing.T) {
	t.Parallel()
	s, _ := newStoreServer(t, pkitest.NewCA(t), 10*time.Second)
	r := httptest.NewRequest("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true", nil)
	r.Header.Set("Accept", "application/json")
	out, err := s.codecs.negotiate(r, true, false)
	if err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	enc := &watchEncoder{s: s, r: r, out: out, flusher: w, rc: http.NewResponseController(w),
		enc: streaming.NewEncoder(out.info.StreamSerializer.Framer.NewFrameWriter(w), out.info.StreamSerializer.Serializer)}
	raw := []byte(`{"kind":"CertificateSigningRequest","apiVersion":"certificates.k8s.io/v1","metadata":{"name":"x"}}`)
	const events = 2*maxWatchBurst + 5
	for i := range events {
		if err := enc.sendRaw(watch.Added, raw); err != nil {
			t.Fatal(err)
		}
		if want := (i + 1) / maxWatchBurst; w.flushes != want {
			t.Fatalf("after %d events: %d flushes, want %d", i+1, w.flushes, want)
		}
	}
	enc.flush()
	enc.flush()
	if w.flushes != 3 {
		t.Errorf("after the closing flushes: %d flushes, want 3", w.flushes)
	}
	if n := strings.Count(w.Body.String(), `"type":"ADDED"`); n != events {
		t.Errorf("the stream holds %d events, want %d", n, events)
	}
}
