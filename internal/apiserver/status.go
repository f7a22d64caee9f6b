package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubepki/kubepki/internal/storage"
)

// csrResource is the group-resource used in Status messages:
// certificatesigningrequests.certificates.k8s.io "NAME" not found.
var csrResource = schema.GroupResource{Group: certGV.Group, Resource: "certificatesigningrequests"}

const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"

// storageError turns a store error about the CSR name into an API status
// error. Unknown errors pass through and become 500s.
func storageError(err error, name string) error {
	if sf, ok := errors.AsType[*storeFaultError](err); ok {
		return sf // already turned into a Status
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(csrResource, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(csrResource, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(csrResource, name, errors.New(conflictMessage))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("the resourceVersion or continue token is too old; list again without it")
	case errors.Is(err, storage.ErrFutureRevision):
		return apierrors.NewTimeoutError("Too large resource version", 1)
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest("invalid continue token; start the list again without continue")
	case errors.Is(err, storage.ErrTooLarge):
		return apierrors.NewRequestEntityTooLargeError("the object exceeds the store's size limit")
	case errors.Is(err, storage.ErrNoSpace):
		return &storeFaultError{StatusError: apierrors.NewInternalError(errors.New(
			"the store has no space left to write; reads still work, and writes will once the server's administrator frees space")),
			cause: err, fault: faultNoSpace}
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &storeFaultError{StatusError: apierrors.NewServiceUnavailable("the store is unavailable; retry later"),
			cause: err, fault: faultUnavailable}
	}
	return err
}

// storeFaultError is the Status of a store that cannot serve: 503 while it
// is unavailable, 500 when it has no space left. Clients get a generic
// message, as kube-apiserver withholds etcd's own; the cause (no quorum,
// the file and its errno, …) goes to the server log. Neither carries
// Retry-After (see writeStatus).
type storeFaultError struct {
	*apierrors.StatusError
	cause error
	fault faultKind
}

func (e *storeFaultError) Unwrap() error { return e.cause }

// faultKind is a kind of fault whose log lines are rate-limited, each
// kind on its own: the store faults, and refused credentials.
type faultKind int

const (
	faultUnavailable faultKind = iota
	faultNoSpace
	// faultAuthn is a request whose credentials were refused: any
	// network client can cause one per request.
	faultAuthn
	numFaults
)

var faultMessages = [numFaults]string{faultUnavailable: "store unavailable", faultNoSpace: "store out of space",
	faultAuthn: "authentication failed"}

// faultLogEvery bounds the log lines of each kind of fault: an outage fails
// every request, and one line per interval says why. Refused credentials
// get one line a second, so that an unauthenticated client cannot grow
// the log without limit, while a misconfigured client still shows at once.
var faultLogEvery = [numFaults]time.Duration{faultUnavailable: 10 * time.Second, faultNoSpace: 10 * time.Second,
	faultAuthn: time.Second}

// faultLog rate-limits the log lines of one kind of fault.
type faultLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allowFaultLog reports whether a line of fault kind f may be logged now:
// the first one is, and then one per faultLogEvery[f]. When it may, it
// also returns how many were not logged since the last one.
func (s *Server) allowFaultLog(f faultKind) (notLogged int, ok bool) {
	l := &s.faultLogs[f]
	now := s.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// time.Now's monotonic reading makes the interval immune to clock
	// steps; a clock without one that steps back logs at once.
	if d := now.Sub(l.last); !l.last.IsZero() && d >= 0 && d < faultLogEvery[f] {
		l.suppressed++
		return 0, false
	}
	notLogged = l.suppressed
	l.last, l.suppressed = now, 0
	return notLogged, true
}

// logStoreFault logs the cause of a store fault, at most once per
// faultLogEvery for each kind, with the count of those not logged since.
func (s *Server) logStoreFault(ctx context.Context, method, path string, f faultKind, cause error) {
	suppressed, ok := s.allowFaultLog(f)
	if !ok {
		return
	}
	level := slog.LevelWarn
	if f == faultNoSpace {
		level = slog.LevelError
	}
	s.log.LogAttrs(ctx, level, faultMessages[f],
		slog.String("method", method), slog.String("path", path), slog.String("error", cause.Error()),
		slog.Int("notLoggedSinceLast", suppressed))
}

// logAuthnFailure logs a request whose credentials were refused, at most
// once a second whoever sends them, with the count not logged since.
func (s *Server) logAuthnFailure(r *http.Request, err error) {
	suppressed, ok := s.allowFaultLog(faultAuthn)
	if !ok {
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, faultMessages[faultAuthn],
		slog.String("remote", r.RemoteAddr), slog.String("path", r.URL.Path), slog.String("error", err.Error()),
		slog.Int("notLoggedSinceLast", suppressed))
}

// toStatus turns any error into a Status. Errors that are not already API
// errors are internal: the client gets a generic message, the log the cause.
func (s *Server) toStatus(r *http.Request, err error) *metav1.Status {
	return s.statusOf(r.Context(), r.Method, r.URL.Path, err)
}

// statusOf is toStatus for a request given by its method and path.
func (s *Server) statusOf(ctx context.Context, method, path string, err error) *metav1.Status {
	if errors.Is(err, context.DeadlineExceeded) && errors.Is(context.Cause(ctx), errRequestTimeout) {
		// The request's own deadline, not the store's failure.
		return &apierrors.NewTimeoutError("request did not complete within the allowed duration", 0).ErrStatus
	}
	mapped := storageError(err, "")
	if sf, ok := mapped.(*storeFaultError); ok {
		s.logStoreFault(ctx, method, path, sf.fault, sf.cause)
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		status := st.Status()
		return &status
	}
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &apierrors.NewRequestEntityTooLargeError(
			fmt.Sprintf("the request body exceeds the limit of %d bytes", mbe.Limit)).ErrStatus
	}
	if errors.Is(err, errUnsupportedMediaType) {
		return &apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, method,
			schema.GroupResource{}, "", err.Error(), 0, false).ErrStatus
	}
	if errors.Is(err, errNotAcceptable) {
		return &apierrors.NewGenericServerResponse(http.StatusNotAcceptable, method,
			schema.GroupResource{}, "", err.Error(), 0, false).ErrStatus
	}
	if errors.As(mapped, &st) {
		status := st.Status()
		return &status
	}
	if errors.Is(err, context.Canceled) {
		return &apierrors.NewTimeoutError("the request was cancelled", 0).ErrStatus
	}
	s.log.LogAttrs(ctx, slog.LevelError, "internal error",
		slog.String("method", method), slog.String("path", path), slog.String("error", err.Error()))
	return &apierrors.NewInternalError(errors.New("internal error; see the server log")).ErrStatus
}

// writeError answers with a Status object for err, always as JSON (every
// client decodes JSON errors).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := s.toStatus(r, err)
	s.writeStatus(w, st)
}

// writeStatus answers with st as JSON.
//
// Retry-After is sent, as kube-apiserver sends it, when the Status asks
// for a retry (details.retryAfterSeconds: the 429s of the in-flight and
// per-user limits, and the 504 of a resourceVersion the store has not
// reached yet), and on every 429 whatever built it. client-go retries
// any 5xx or 429 that carries Retry-After, up to 10 times, so it is never
// sent for a store that cannot answer (503, or the 500 of a full disk): each
// of those requests already waited for the store, and ten more attempts
// would only make every command hang before it fails.
//
// Unlike kube-apiserver with --shutdown-send-retry-after, a server that
// is shutting down answers no 429 with Retry-After: it keeps no delay in
// which it still accepts requests. Run stops accepting at once (HTTP/2
// clients get GOAWAY), lets the requests in flight finish and ends the
// watches cleanly, so that clients reconnect, to another server or to
// this one once it is back, instead of retrying one that is going away.
func (s *Server) writeStatus(w http.ResponseWriter, st *metav1.Status) {
	st.Kind, st.APIVersion = "Status", "v1"
	st.Status = metav1.StatusFailure
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	switch {
	case st.Details != nil && st.Details.RetryAfterSeconds > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	case st.Code == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	out := output{info: s.jsonInfo, contentType: mediaJSON}
	data, err := s.codecs.encode(out, st)
	if err != nil {
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(data)
}
