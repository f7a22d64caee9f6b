package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// dispatch routes an authenticated, authorized request.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, st *reqState) {
	ri := st.info
	if ri.badPath {
		s.writeError(w, r, errNoSuchPath())
		return
	}
	if !ri.resource {
		s.serveNonResource(w, r)
		return
	}
	switch {
	case ri.group == coreGV.Group && ri.version == coreGV.Version && ri.kind == eventsResource.Resource:
		s.serveEvents(w, r, st)
	case ri.namespace != "":
		// Every other resource here is cluster-scoped.
		s.writeError(w, r, errNoSuchPath())
	case ri.group == certGV.Group && ri.version == certGV.Version && ri.kind == csrResource.Resource:
		s.serveCSR(w, r, st)
	case ri.group == authnGV.Group && ri.version == authnGV.Version && ri.kind == "selfsubjectreviews" && ri.name == "":
		s.onlyPost(w, r, s.serveSelfSubjectReview)
	case ri.group == authzGV.Group && ri.version == authzGV.Version && ri.kind == "selfsubjectaccessreviews" && ri.name == "":
		s.onlyPost(w, r, s.serveSelfSubjectAccessReview)
	case ri.group == authzGV.Group && ri.version == authzGV.Version && ri.kind == "selfsubjectrulesreviews" && ri.name == "":
		s.onlyPost(w, r, s.serveSelfSubjectRulesReview)
	default:
		s.writeError(w, r, errNoSuchPath())
	}
}

// errNoSuchPath answers a path the server does not serve. kube-apiserver
// answers Go's plain "404 page not found", which kubectl prints as "the
// server could not find the requested resource"; this is the Status with
// that message, so that every error is a Status.
func errNoSuchPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
}

func (s *Server) onlyPost(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodPost {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: stateFrom(r.Context()).info.kind}, r.Method))
		return
	}
	h(w, r)
}

// serveCSR routes the certificatesigningrequests resource and its subresources.
func (s *Server) serveCSR(w http.ResponseWriter, r *http.Request, st *reqState) {
	ri := st.info
	switch ri.subresource {
	case "", "approval", "status":
	default:
		// No such route, whether or not the CSR exists.
		s.writeError(w, r, errNoSuchPath())
		return
	}
	if ri.name != "" {
		if err := pathNameError(ri.name); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	switch ri.verb {
	case "list":
		if ri.subresource == "" {
			s.listCSRs(w, r)
			return
		}
	case "watch":
		s.watchCSRs(w, r, st)
		return
	case "create":
		if ri.name == "" {
			s.createCSR(w, r, st)
			return
		}
	case "deletecollection":
		s.deleteCollection(w, r, st)
		return
	case "get":
		s.getCSR(w, r, ri.name)
		return
	case "update":
		// PUT and PATCH have no route on the collection, as in kube.
		if ri.name != "" {
			s.updateCSR(w, r, st, ri.name, ri.subresource)
			return
		}
	case "patch":
		if ri.name != "" {
			s.patchCSR(w, r, st, ri.name, ri.subresource)
			return
		}
	case "delete":
		if ri.subresource == "" {
			s.deleteCSR(w, r, st, ri.name)
			return
		}
	}
	s.writeError(w, r, apierrors.NewMethodNotSupported(csrResource, r.Method))
}
