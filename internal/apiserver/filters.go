package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestWriteGrace is how long after the request timeout the answer may
// still be written.
const requestWriteGrace = 10 * time.Second

// watchWriteTimeout bounds the write of one flushed burst of watch
// events, at most maxWatchBurst of them, to a client.
const watchWriteTimeout = 30 * time.Second

// maxWatchBurst is how many watch events may be written before a flush,
// so that a burst a slow client reads must fit the write timeout.
const maxWatchBurst = 32

// reqState is the per-request record the filters and handlers share.
type reqState struct {
	info requestInfo
	// user is the identity the request acts as: the authenticated user,
	// or the one it impersonates.
	user *UserInfo
	// impersonator is the authenticated user of a request that
	// impersonates user; nil when it impersonates nobody.
	impersonator *UserInfo
	// auditName is the object name for the audit line when the path has
	// none (create with generateName).
	auditName string
	// auditConditions are the condition types a write through the
	// approval or status subresource added (Approved, Denied, Failed…),
	// so that the audit line says what was decided, not only that the
	// CSR changed.
	auditConditions []string
}

// requester returns the authenticated user: the impersonator if there is
// one, else user.
func (st *reqState) requester() *UserInfo {
	if st.impersonator != nil {
		return st.impersonator
	}
	return st.user
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

// statusWriter records the response code and keeps Flush working.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) buildHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		st := &reqState{info: parseRequestInfo(r)}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if w.code == 0 {
					s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("internal error; see the server log")))
				}
			}
			s.finish(r, st, w.code, time.Since(start))
		}()
		s.serveFiltered(w, r, st)
	})
}

// callInfo is what the request log and the audit line say of a request
// beyond its reqState.
type callInfo struct {
	method, path, userAgent, command, remote, proto string
}

// finish records metrics and, for writes, the audit line.
func (s *Server) finish(r *http.Request, st *reqState, code int, elapsed time.Duration) {
	s.record(r.Context(), st, code, elapsed, callInfo{
		method: r.Method, path: r.URL.Path, userAgent: r.UserAgent(),
		command: r.Header.Get("Kubectl-Command"), remote: r.RemoteAddr, proto: r.Proto,
	})
}

// record is finish for any request, over HTTP or in-process.
func (s *Server) record(ctx context.Context, st *reqState, code int, elapsed time.Duration, c callInfo) {
	if code == 0 {
		code = http.StatusOK
	}
	resource := st.info.kind
	if st.info.subresource != "" {
		resource += "/" + st.info.subresource
	}
	if !st.info.resource {
		resource = ""
	}
	s.metrics.observeRequest(st.info.verb, resource, code, elapsed)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		user := ""
		if u := st.requester(); u != nil {
			user = u.Name
		}
		attrs := []slog.Attr{
			slog.String("method", c.method), slog.String("path", c.path), slog.String("verb", st.info.verb),
			slog.String("user", user),
		}
		if st.impersonator != nil {
			attrs = append(attrs, slog.String("impersonatedUser", st.user.Name))
		}
		attrs = append(attrs, slog.Int("code", code), slog.Duration("latency", elapsed),
			slog.String("userAgent", c.userAgent), slog.String("proto", c.proto))
		s.log.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
	}
	switch st.info.verb {
	case "create", "update", "patch", "delete", "deletecollection":
	default:
		return
	}
	if !st.info.resource {
		return
	}
	user := ""
	var groups []string
	if u := st.requester(); u != nil {
		user, groups = u.Name, u.Groups
	}
	name := st.info.name
	if name == "" {
		name = st.auditName
	}
	outcome := "allowed"
	if code >= 400 {
		outcome = "denied"
		if code != http.StatusForbidden && code != http.StatusUnauthorized {
			outcome = "failed"
		}
	}
	// As in a Kubernetes audit event, user is who authenticated and
	// impersonatedUser whom the request acted as.
	attrs := []slog.Attr{slog.String("user", user), slog.Any("groups", groups)}
	if st.impersonator != nil {
		attrs = append(attrs, slog.String("impersonatedUser", st.user.Name), slog.Any("impersonatedGroups", st.user.Groups))
	}
	attrs = append(attrs,
		slog.String("verb", st.info.verb), slog.String("resource", resource),
		slog.String("name", name), slog.Int("code", code), slog.String("outcome", outcome))
	if len(st.auditConditions) > 0 {
		attrs = append(attrs, slog.Any("conditionsAdded", st.auditConditions))
	}
	attrs = append(attrs,
		slog.String("userAgent", c.userAgent), slog.String("kubectlCommand", c.command),
		slog.String("remote", c.remote), slog.Duration("latency", elapsed))
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// serveFiltered applies the limits, authentication and authorization,
// then dispatches.
func (s *Server) serveFiltered(w http.ResponseWriter, r *http.Request, st *reqState) {
	// Long-running requests (watches) are limited per user, after
	// authentication; everything else shares the in-flight budget.
	// The in-process controllers are exempt, as kube-apiserver exempts
	// its loopback client, so that overload cannot starve signing.
	releaseSlot := func() {}
	if !st.info.watch {
		// Health probes are exempt, as kube-apiserver exempts them from
		// its priority and fairness limits: an overloaded server must not
		// be restarted or taken out of its load balancer for it.
		if !isLoopback(r.Context()) && !isHealthPath(r.URL.Path) {
			select {
			case s.inflight <- struct{}{}:
				releaseSlot = sync.OnceFunc(func() { <-s.inflight })
				defer releaseSlot()
			default:
				s.writeError(w, r, apierrors.NewTooManyRequests("too many requests in flight; retry later", 1))
				return
			}
		}
		timeout := s.cfg.RequestTimeout
		if strings.Contains(r.URL.RawQuery, "timeout") { // parse the query only then
			var err error
			if timeout, err = requestTimeout(r.URL.Query(), timeout); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		ctx, cancel := context.WithTimeoutCause(r.Context(), timeout, errRequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		// A client that sends its body or reads the answer too slowly
		// loses the connection instead of holding the slot (slowloris).
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(s.cfg.RequestTimeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline.Add(requestWriteGrace))
		// HTTP/1.1 deadlines outlive the request on a kept-alive connection.
		defer func() {
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}()
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.logAuthnFailure(r, err)
		w.Header().Set("Connection", "close")
		releaseSlot()
		discardUnauthenticatedBody(w, r)
		s.writeStatus(w, unauthorized())
		return
	}
	st.user = user
	if user != nil && !st.info.watch && !isLoopback(r.Context()) && !isHealthPath(r.URL.Path) {
		if !s.acquireInFlight(user.Name) {
			s.writeError(w, r, apierrors.NewTooManyRequests(fmt.Sprintf(
				"user %q has %d requests in flight, the limit; retry later", user.Name, s.cfg.MaxInFlightPerUser), 1))
			return
		}
		defer s.releaseInFlight(user.Name)
	}
	if user == nil {
		if r.ProtoMajor >= 2 {
			// No HTTP/2 connection reuse for unauthenticated clients
			// (Rapid Reset, CVE-2023-44487): Go sends GOAWAY after this.
			w.Header().Set("Connection", "close")
		}
		if !isPublicPath(r.URL.Path) {
			releaseSlot()
			discardUnauthenticatedBody(w, r)
			s.writeStatus(w, unauthorized())
			return
		}
		st.user = &UserInfo{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}
	}
	if err := s.impersonate(r, st); err != nil {
		s.writeError(w, r, err)
		return
	}
	if user != nil && !isPublicPath(r.URL.Path) {
		if err := s.authorizeRequest(r.Context(), st); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// Nothing above reads the body, so the limit applies here: a 413 is
	// audited under the identity that sent it, and a client that may not
	// make the request learns that first (401, 403).
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, r, apierrors.NewRequestEntityTooLargeError(
			fmt.Sprintf("the request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	s.dispatch(w, r, st)
}

// Bounds of discardUnauthenticatedBody.
const (
	// unauthenticatedDiscardBytes is the most of an unauthenticated
	// request's body read before its 401: a CSR fits many times over.
	unauthenticatedDiscardBytes = 64 << 10
	// unauthenticatedDiscardTime is how long the reading may take; a
	// body sent right behind its headers arrives well within it.
	unauthenticatedDiscardTime = 500 * time.Millisecond
)

// discardUnauthenticatedBody reads and drops up to
// unauthenticatedDiscardBytes of the body of an unauthenticated HTTP/2
// request, for at most unauthenticatedDiscardTime, before its 401.
//
// Such a connection is closed after the answer (GOAWAY, the Rapid Reset
// mitigation). With the body still arriving, the server resets the stream
// and closes the connection under a client that is still sending, which
// then often loses part of the 401 (curl exits 18); read first, the
// stream is complete before the answer and the client reads it whole.
// A body larger than the bound is not read at all, and none is ever read
// without bound. HTTP/1.1 needs none of this: net/http closes the
// connection gracefully after the answer.
func discardUnauthenticatedBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 || r.Body == nil || r.Body == http.NoBody || r.ContentLength > unauthenticatedDiscardBytes {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(unauthenticatedDiscardTime)); err != nil {
		return // no deadline: never wait on the client
	}
	_, _ = io.CopyN(io.Discard, r.Body, unauthenticatedDiscardBytes)
}

// isHealthPath reports whether path is a health probe (/healthz, /livez,
// /readyz, or one of their checks).
func isHealthPath(path string) bool {
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// acquireInFlight counts a non-watch request against its authenticated
// user's limit; the requests of one user are counted together whoever
// they impersonate.
func (s *Server) acquireInFlight(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[user] >= s.cfg.MaxInFlightPerUser {
		return false
	}
	s.inFlight[user]++
	return true
}

func (s *Server) releaseInFlight(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[user]--; s.inFlight[user] <= 0 {
		delete(s.inFlight, user)
	}
}

// impersonate switches st to the identity the request's impersonation
// headers ask for, once the authenticated user is allowed each attribute
// (see [Impersonate]), and removes the headers. It runs after
// authentication and before authorization, as in kube-apiserver, so that
// everything after it (authorization, the self reviews, a created CSR's
// requester) sees the impersonated user; the audit line names both.
func (s *Server) impersonate(r *http.Request, st *reqState) error {
	requester := st.user
	u, err := Impersonate(r.Context(), s.authz, requester, r.Header)
	if err != nil {
		if apierrors.IsForbidden(err) {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "impersonation denied",
				slog.String("user", requester.Name), slog.String("remote", r.RemoteAddr),
				slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		}
		return err
	}
	removeImpersonationHeaders(r.Header)
	if u != nil {
		st.impersonator, st.user = requester, u
	}
	return nil
}

func unauthorized() *metav1.Status {
	return &apierrors.NewUnauthorized("Unauthorized").ErrStatus
}

// authenticate returns the request's user, nil for none.
func (s *Server) authenticate(r *http.Request) (*UserInfo, error) {
	if isLoopback(r.Context()) {
		return loopbackUser(), nil
	}
	u, ok, err := s.authn.AuthenticateRequest(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return u, nil
}

// attributes returns the authorization attributes of the request.
func attributes(st *reqState) Attributes {
	ri := st.info
	if !ri.resource {
		return Attributes{User: st.user, Verb: ri.verb, Path: ri.path}
	}
	name := ri.name
	if name == "" {
		// A list or watch limited to one object by its fieldSelector.
		name = ri.selectorName
	}
	return Attributes{
		User: st.user, Verb: ri.verb, APIGroup: ri.group, APIVersion: ri.version,
		Resource: ri.kind, Subresource: ri.subresource, Namespace: ri.namespace, Name: name, Path: ri.path,
		ResourceRequest: true,
	}
}

// authorizeRequest returns a Forbidden error unless the request is allowed.
func (s *Server) authorizeRequest(ctx context.Context, st *reqState) error {
	a := attributes(st)
	allowed, reason, err := s.authz.Authorize(ctx, a)
	if err != nil {
		return fmt.Errorf("authorize %s %s: %w", a.Verb, a.Path, err)
	}
	if allowed {
		return nil
	}
	return forbidden(a, reason)
}

// forbiddenSanitizer keeps the Forbidden message from looking like HTML,
// as kube-apiserver's does; quotes are fine.
var forbiddenSanitizer = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;")

// forbidden builds kube-apiserver's Forbidden message for a: the user and
// names in it come from the client (certificates, impersonation headers),
// so &, < and > are escaped, as kube-apiserver escapes them.
func forbidden(a Attributes, reason string) error {
	var msg string
	if !a.ResourceRequest {
		msg = forbiddenSanitizer.Replace(fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path))
		if reason != "" {
			msg += ": " + reason
		}
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden,
			Reason: metav1.StatusReasonForbidden, Message: "forbidden: " + msg,
		}}
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	scope := "at the cluster scope"
	if a.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", a.Namespace)
	}
	msg = forbiddenSanitizer.Replace(fmt.Sprintf("User %q cannot %s resource %q in API group %q %s",
		a.User.Name, a.Verb, resource, a.APIGroup, scope))
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, fmt.Errorf("%s", msg))
}

// errRequestTimeout is the cause of a request context whose deadline
// (the server's, or the shorter one the client asked for) passed: the
// request then ends with 504, as in kube-apiserver, not with the 503 of a
// store that cannot answer.
var errRequestTimeout = errors.New("request timeout")

// requestTimeout is how long a non-watch request may run: the client's
// timeout parameter (kubectl sends timeout=32s, and --request-timeout),
// when it is positive and shorter than the server's limit, else the limit.
// A value that is no duration is a 400, as in kube-apiserver.
func requestTimeout(q url.Values, limit time.Duration) (time.Duration, error) {
	v := q.Get("timeout")
	if v == "" {
		return limit, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid timeout %q specified in the request URL: use a duration such as 30s", v))
	}
	if d > 0 && d < limit {
		return d, nil
	}
	return limit, nil
}
