package apiserver

import (
	"errors"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// eventsResource is the core v1 events resource, which discovery
// advertises with the verbs list and watch only.
var eventsResource = schema.GroupResource{Resource: "events"}

// serveEvents answers the core v1 events resource. This server records no
// events, so a list is empty and a watch idles until its timeout, in one
// namespace and in all (kubectl describe, kubectl events, kubectl get
// events [-A] [-w]). Discovery advertises the resource so that kubectl
// finds a core v1 version there, without which it cannot map the kind
// List of "kubectl get -o yaml" files.
//
// Events are read-only here: a GET of one event is NotFound, as on
// kube-apiserver for an event that does not exist; writes are 405
// MethodNotAllowed with kube-apiserver's wording for a method its route
// does not serve, where kube-apiserver would store the event.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, st *reqState) {
	ri := st.info
	switch {
	case ri.subresource != "" || (ri.namespace == "" && ri.name != ""):
		// Events have no subresources, and no cluster-wide path names one.
		s.writeError(w, r, errNoSuchPath())
	case ri.verb == "list":
		s.serveEmptyEventList(w, r)
	case ri.verb == "watch":
		s.serveEmptyEventWatch(w, r, st)
	case ri.verb == "get":
		if err := pathNameError(ri.name); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, apierrors.NewNotFound(eventsResource, ri.name))
	default:
		s.writeError(w, r, errMethodNotAllowed())
	}
}

// errMethodNotAllowed answers a method the path does not serve, as
// kube-apiserver's go-restful service error handler does (k8s.io/apiserver
// pkg/server/handler.go): 405 MethodNotAllowed, "the server does not allow
// this method on the requested resource".
func errMethodNotAllowed() error {
	return apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false)
}

// serveEmptyEventWatch answers a watch of events (kubectl events -w,
// kubectl get events -w): a stream on which no event ever comes, open until
// its timeout, the client leaves or the server stops. It counts against
// the user's watches like any other.
func (s *Server) serveEmptyEventWatch(w http.ResponseWriter, r *http.Request, st *reqState) {
	p, err := s.parseWatch(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("the connection cannot stream"))
		return
	}
	user := st.requester().Name
	if !s.acquireWatch(user) {
		s.writeError(w, r, s.tooManyWatches(user))
		return
	}
	defer s.releaseWatch(user)
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-s.stopping:
	case <-t.C:
	}
}

// serveEmptyEventList answers kubectl describe's and kubectl events'
// queries: this server records no events.
func (s *Server) serveEmptyEventList(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"kind": "EventList", "apiVersion": "v1", "metadata": map[string]any{}, "items": []any{},
	})
}
