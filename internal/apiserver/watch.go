package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/storage"
)

// watchParams are the query parameters of a watch.
type watchParams struct {
	sel              selector
	resourceVersion  int64 // 0: start with the current state
	initialEvents    bool  // send the current objects as ADDED first
	initialEventsEnd bool  // then a bookmark marking their end (WatchList)
	bookmarks        bool
	timeout          time.Duration
}

// parseWatch reads the query parameters of a watch. Booleans are read as
// kube-apiserver reads them (see queryBool). timeoutSeconds ends the
// watch after that many seconds, capped by MaxWatchDuration, which also
// applies when it is absent or 0.
func (s *Server) parseWatch(q url.Values) (watchParams, error) {
	sel, err := parseSelector(q)
	if err != nil {
		return watchParams{}, err
	}
	p := watchParams{sel: sel, bookmarks: queryBool(q, "allowWatchBookmarks"), timeout: s.cfg.MaxWatchDuration}
	// A watch ignores limit, but, as in kube-apiserver, only once it is
	// an integer.
	if _, _, err := queryInt64(q, "limit"); err != nil {
		return watchParams{}, err
	}
	if n, ok, err := queryInt64(q, "timeoutSeconds"); ok {
		if err != nil || n < 0 {
			// kube-apiserver takes a negative value as a deadline already
			// passed: its watch ends at once, empty. Here it stays a 400,
			// which tells the client of its bug instead of handing it an
			// empty stream to open again in a loop.
			return watchParams{}, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q: use a non-negative integer", q.Get("timeoutSeconds")))
		}
		// Compared in seconds: n seconds as a time.Duration overflows
		// from 9223372037 on, and would end the watch at once.
		if n > 0 && n <= int64(p.timeout/time.Second) {
			p.timeout = time.Duration(n) * time.Second
		}
	}
	rv := q.Get("resourceVersion")
	if rv != "" && rv != "0" {
		n, err := parseResourceVersion(rv)
		if err != nil {
			return watchParams{}, err
		}
		p.resourceVersion = n
	}
	// sendInitialEvents is a pointer in ListOptions: absent is unset, any
	// value present is a boolean.
	_, initialSet := queryFirst(q, "sendInitialEvents")
	switch match := q.Get("resourceVersionMatch"); {
	case initialSet && queryBool(q, "sendInitialEvents"):
		if match != string(metav1.ResourceVersionMatchNotOlderThan) {
			return watchParams{}, invalidWatch("resourceVersionMatch", "sendInitialEvents=true requires resourceVersionMatch=NotOlderThan")
		}
		if !p.bookmarks {
			return watchParams{}, invalidWatch("allowWatchBookmarks", "sendInitialEvents=true requires allowWatchBookmarks=true")
		}
		p.initialEvents, p.initialEventsEnd = true, true
	case initialSet:
		if match != "" && match != string(metav1.ResourceVersionMatchNotOlderThan) {
			return watchParams{}, invalidWatch("resourceVersionMatch", "use NotOlderThan or leave it out")
		}
	default:
		if match != "" {
			return watchParams{}, invalidWatch("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is set")
		}
		// Legacy watch: "" and "0" start with the current state.
		p.initialEvents = p.resourceVersion == 0
	}
	return p, nil
}

func invalidWatch(field, msg string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("invalid watch parameters: %s: %s", field, msg))
}

// watchEncoder writes watch events in the negotiated format.
type watchEncoder struct {
	s       *Server
	r       *http.Request
	out     output
	enc     streaming.Encoder
	flusher http.Flusher
	rc      *http.ResponseController
	// unflushed counts the events written since the last flush; the
	// write deadline stays armed while it is not zero.
	unflushed int
}

func (e *watchEncoder) send(typ watch.EventType, obj runtime.Object) error {
	raw, err := e.s.codecs.encode(e.out, obj)
	if err != nil {
		return fmt.Errorf("encode watch event: %w", err)
	}
	return e.sendRaw(typ, raw)
}

// sendRaw writes an event whose object is already encoded in e's format.
// It reaches the client at the next [watchEncoder.flush], which sendRaw
// itself does every maxWatchBurst events (or sooner, when the
// connection's buffer fills).
func (e *watchEncoder) sendRaw(typ watch.EventType, raw []byte) error {
	if e.unflushed == 0 {
		// A watcher that stops reading is cut off rather than holding
		// the stream.
		_ = e.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	}
	e.unflushed++
	if err := e.enc.Encode(&metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}); err != nil {
		return err
	}
	if e.unflushed >= maxWatchBurst {
		e.flush()
	}
	return nil
}

// flush sends what sendRaw wrote. The stream calls it when no further
// event is waiting, so that a burst of events costs one flush.
func (e *watchEncoder) flush() {
	if e.unflushed == 0 {
		return
	}
	e.flusher.Flush()
	// No deadline while idle: on HTTP/2 a passed deadline resets the stream.
	_ = e.rc.SetWriteDeadline(time.Time{})
	e.unflushed = 0
}

func (e *watchEncoder) sendCSR(typ watch.EventType, csr *certv1.CertificateSigningRequest) error {
	switch e.out.kind {
	case outputTable:
		tbl, err := e.s.csrTable(e.r, []certv1.CertificateSigningRequest{*csr}, csr.ResourceVersion, "", true)
		if err != nil {
			return err
		}
		return e.send(typ, tbl)
	case outputMetadata:
		return e.send(typ, partialMetadata(csr))
	}
	if csr.Kind == "" {
		setCSRTypeMeta(csr)
	}
	return e.send(typ, csr)
}

// bookmark sends a BOOKMARK event and flushes: it marks a point the
// client should see at once.
func (e *watchEncoder) bookmark(rev int64, initialEnd bool) error {
	var obj runtime.Object = bookmarkObject(rev, initialEnd)
	if e.out.kind == outputMetadata {
		// Metadata informers decode every event, bookmarks included, as
		// PartialObjectMetadata.
		obj = partialMetadata(bookmarkObject(rev, initialEnd))
	}
	if err := e.send(watch.Bookmark, obj); err != nil {
		return err
	}
	e.flush()
	return nil
}

// bookmarkObject is the object of a BOOKMARK event at rev; initialEnd
// marks the end of the initial events (WatchList).
func bookmarkObject(rev int64, initialEnd bool) *certv1.CertificateSigningRequest {
	csr := &certv1.CertificateSigningRequest{}
	setCSRTypeMeta(csr)
	csr.ResourceVersion = strconv.FormatInt(rev, 10)
	if initialEnd {
		csr.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return csr
}

// acquireWatch counts a watch against its user's limit.
func (s *Server) acquireWatch(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches[user] >= s.cfg.MaxWatchesPerUser {
		return false
	}
	s.watches[user]++
	return true
}

// tooManyWatches is the 429 for a user at the watch limit.
func (s *Server) tooManyWatches(user string) error {
	return apierrors.NewTooManyRequests(fmt.Sprintf(
		"user %q has %d watches open, the limit; close some and retry", user, s.cfg.MaxWatchesPerUser), 1)
}

func (s *Server) releaseWatch(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches[user]--; s.watches[user] <= 0 {
		delete(s.watches, user)
	}
}

// watchSink receives the events of one watch, in order. An error from
// event or bookmark ends the watch (the client is gone or too slow).
type watchSink interface {
	// event sends csr; shared, when not nil, is the store event csr
	// comes from, shared with other watches: csr must not be modified.
	event(typ watch.EventType, csr *certv1.CertificateSigningRequest, shared *sharedEvent) error
	// bookmark sends a BOOKMARK event and flushes.
	bookmark(rev int64, initialEnd bool) error
	// failure sends an Error event and flushes; the watch ends after it.
	failure(st *metav1.Status)
	// flush delivers what event sent since the last flush.
	flush()
}

func (e *watchEncoder) event(typ watch.EventType, csr *certv1.CertificateSigningRequest, shared *sharedEvent) error {
	if shared == nil || e.out.kind != outputObject || csr != shared.csr {
		// Shared encodings are of the event's object only, not of the
		// one before it.
		return e.sendCSR(typ, csr)
	}
	raw, err := shared.encode(e.out.info)
	if err != nil {
		return fmt.Errorf("encode watch event: %w", err)
	}
	return e.sendRaw(typ, raw)
}

func (e *watchEncoder) failure(st *metav1.Status) {
	_ = e.send(watch.Error, st)
	e.flush()
}

// openedWatch is a watch past the point where it can still be refused
// with an error answer: the first page of its initial state and the
// store watch it continues with.
type openedWatch struct {
	p     watchParams
	first listPage
	from  int64
	sw    storage.Watcher // nil when from is compacted: the stream is one 410
	stop  func()          // releases the watch's slot, timer and store watch
}

// openWatch counts the watch against user's limit, bounds ctx by the
// watch timeout and the server's shutdown, reads the first page of the
// initial state (if asked) and starts the store watch. Later pages are
// streamed, so that a large store is never held in memory. The returned
// context ends the watch; ow.stop must be called once it is done.
func (s *Server) openWatch(ctx context.Context, user string, p watchParams) (context.Context, *openedWatch, error) {
	if !s.acquireWatch(user) {
		return nil, nil, s.tooManyWatches(user)
	}
	s.metrics.watchers.Inc()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	ow := &openedWatch{p: p, from: p.resourceVersion}
	// The store watch gets a context that ends only after its Stop, so
	// that the watch always ends through Stop from the streaming goroutine.
	storeCtx, storeCancel := context.WithCancel(context.WithoutCancel(ctx))
	ow.stop = func() {
		if ow.sw != nil {
			ow.sw.Stop()
		}
		storeCancel()
		cancel()
		s.metrics.watchers.Dec()
		s.releaseWatch(user)
	}
	var err error
	if p.initialEvents {
		ow.first, err = s.list(ctx, p.sel, 0, "")
		if err != nil {
			ow.stop()
			return nil, nil, err
		}
		ow.from = ow.first.revision
	} else if ow.from == 0 {
		ow.from, err = s.store.CurrentRevision(ctx)
		if err != nil {
			ow.stop()
			return nil, nil, storageError(err, "")
		}
	}
	ow.sw, err = s.store.Watch(storeCtx, csrPrefix, ow.from)
	if errors.Is(err, storage.ErrCompacted) {
		ow.sw = nil
	} else if err != nil {
		ow.stop()
		return nil, nil, storageError(err, "")
	}
	return ctx, ow, nil
}

// stream sends ow's events to sink until ctx ends, the sink fails, or
// the store ends the watch; status turns an error into its Status.
func (s *Server) stream(ctx context.Context, ow *openedWatch, sink watchSink, status func(error) *metav1.Status) {
	p := ow.p
	if ow.sw == nil {
		sink.failure(tooOld(ow.from))
		return
	}
	for page := ow.first; ; {
		for i := range page.items {
			if err := sink.event(watch.Added, &page.items[i], nil); err != nil {
				return
			}
		}
		sink.flush()
		if page.cont == "" {
			break
		}
		var err error
		if page, err = s.list(ctx, p.sel, 0, page.cont); err != nil {
			sink.failure(status(err))
			return
		}
	}
	lastRV := ow.from
	if p.initialEventsEnd {
		if err := sink.bookmark(lastRV, true); err != nil {
			return
		}
	}
	var tick <-chan time.Time
	if p.bookmarks {
		t := time.NewTicker(s.cfg.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if err := sink.bookmark(lastRV, false); err != nil {
				return
			}
		case ev, ok := <-ow.sw.Events():
			if !ok {
				switch err := ow.sw.Err(); {
				case errors.Is(err, storage.ErrCompacted):
					// The store could not keep this stream going (the
					// watch fell behind). End it without an error, as
					// kube-apiserver ends a watcher it drops: the client
					// watches again from the last resourceVersion it saw
					// and gets 410 Expired only if the store's history no
					// longer reaches back there, instead of re-listing
					// every CSR after each burst of writes.
				case err != nil && ctx.Err() == nil:
					sink.failure(status(storageError(err, "")))
				}
				return
			}
			lastRV = ev.KV.Revision
			shared := s.events.get(ev)
			typ, csr, err := s.watchEvent(ev, shared, p.sel)
			if err != nil {
				sink.failure(status(err))
				return
			}
			if csr != nil {
				if err := sink.event(typ, csr, shared); err != nil {
					return
				}
			}
			if len(ow.sw.Events()) == 0 {
				// Nothing more is waiting: deliver the burst.
				sink.flush()
			}
		}
	}
}

func (s *Server) watchCSRs(w http.ResponseWriter, r *http.Request, st *reqState) {
	p, err := s.parseWatch(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.codecs.negotiate(r, true, false)
	if err == nil && out.kind == outputMetadataList {
		// Each event carries one object.
		err = errListForm
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// One event per line, and events encoded once for every watcher of
	// a format: never indented.
	out.pretty = false
	if out.info.StreamSerializer == nil {
		s.writeError(w, r, fmt.Errorf("%w: %s cannot stream watch events", errNotAcceptable, out.info.MediaType))
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("the connection cannot stream"))
		return
	}
	// The watch counts against the authenticated user, so that
	// impersonating others never widens one's own limit.
	ctx, ow, err := s.openWatch(r.Context(), st.requester().Name, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer ow.stop()

	contentType := out.info.MediaType
	if out.info.MediaType == mediaProtobuf {
		contentType += ";stream=watch"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	frameWriter := out.info.StreamSerializer.Framer.NewFrameWriter(w)
	enc := &watchEncoder{s: s, r: r, out: output{info: out.info, kind: out.kind, contentType: out.info.MediaType},
		enc: streaming.NewEncoder(frameWriter, out.info.StreamSerializer.Serializer), flusher: flusher,
		rc: http.NewResponseController(w)}
	// Embedded objects use the non-stream serializer of the same format.
	enc.out.info = out.info
	_ = enc.rc.SetWriteDeadline(time.Time{}) // none left over from an earlier request on this connection
	flusher.Flush()
	s.stream(ctx, ow, enc, func(err error) *metav1.Status { return s.toStatus(r, err) })
}

// tooOld is the 410 Status of a watch whose start is compacted.
func tooOld(rev int64) *metav1.Status {
	st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rev)).ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	return &st
}

// watchEvent turns a store event into a watch event for the selector:
// an object that stops matching is DELETED, as it was before the event,
// and one that starts is ADDED.
// A nil CSR means the event is not for this watch. The CSR is shared's,
// shared with other watches.
func (s *Server) watchEvent(ev storage.Event, shared *sharedEvent, sel selector) (watch.EventType, *certv1.CertificateSigningRequest, error) {
	csr, err := shared.object()
	if err != nil {
		return "", nil, err
	}
	matches := sel.matches(csr)
	switch ev.Type {
	case storage.EventCreated:
		if !matches {
			return "", nil, nil
		}
		return watch.Added, csr, nil
	case storage.EventDeleted:
		if !matches {
			return "", nil, nil
		}
		return watch.Deleted, csr, nil
	}
	prevMatches := true
	if ev.PrevValue != nil && !sel.empty() {
		if prev, err := shared.previous(); err == nil && prev != nil {
			prevMatches = sel.matches(prev)
		}
	}
	switch {
	case matches && prevMatches:
		return watch.Modified, csr, nil
	case matches:
		return watch.Added, csr, nil
	case prevMatches && ev.PrevValue != nil:
		// As kube-apiserver's watch cache: the object as it was while
		// selected, at the event's resourceVersion.
		prev, err := shared.previous()
		if err != nil {
			return "", nil, err
		}
		return watch.Deleted, prev, nil
	}
	return "", nil, nil
}
