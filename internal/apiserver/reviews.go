package apiserver

import (
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// decodeReview decodes a self-review request body into into.
func (s *Server) decodeReview(w http.ResponseWriter, r *http.Request, gvk schema.GroupVersionKind, into runtime.Object) bool {
	data, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	info, err := s.codecs.requestSerializer(r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	directive, err := fieldValidation(r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	warnings, err := s.decodeObject(info, directive, data, gvk, into)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	addWarnings(w, warnings)
	return true
}

func (s *Server) serveSelfSubjectReview(w http.ResponseWriter, r *http.Request) {
	in := &authenticationv1.SelfSubjectReview{}
	if !s.decodeReview(w, r, authnGV.WithKind("SelfSubjectReview"), in) {
		return
	}
	out := SelfSubjectReview(s.user(r))
	out.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectReview", APIVersion: authnGV.String()}
	out.CreationTimestamp = metav1.NewTime(s.now().UTC())
	s.writeObject(w, r, http.StatusCreated, out)
}

func (s *Server) serveSelfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	in := &authorizationv1.SelfSubjectAccessReview{}
	if !s.decodeReview(w, r, authzGV.WithKind("SelfSubjectAccessReview"), in) {
		return
	}
	status, err := SelfSubjectAccessReview(r.Context(), s.authz, s.user(r), in.Spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in.Status = status
	in.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectAccessReview", APIVersion: authzGV.String()}
	in.CreationTimestamp = metav1.NewTime(s.now().UTC())
	s.writeObject(w, r, http.StatusCreated, in)
}

func (s *Server) serveSelfSubjectRulesReview(w http.ResponseWriter, r *http.Request) {
	in := &authorizationv1.SelfSubjectRulesReview{}
	if !s.decodeReview(w, r, authzGV.WithKind("SelfSubjectRulesReview"), in) {
		return
	}
	if s.cfg.Policy != nil {
		in.Status = SelfSubjectRulesReview(s.cfg.Policy, s.user(r), in.Spec.Namespace)
	} else {
		in.Status = authorizationv1.SubjectRulesReviewStatus{Incomplete: true,
			EvaluationError: "the server has no policy to list rules from"}
	}
	in.TypeMeta = metav1.TypeMeta{Kind: "SelfSubjectRulesReview", APIVersion: authzGV.String()}
	in.CreationTimestamp = metav1.NewTime(s.now().UTC())
	s.writeObject(w, r, http.StatusCreated, in)
}
