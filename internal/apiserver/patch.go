package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// maxJSONPatchOperations bounds a JSON patch (kube-apiserver uses 10,000).
const maxJSONPatchOperations = 10000

func (s *Server) patchCSR(w http.ResponseWriter, r *http.Request, st *reqState, name, sub string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
	default:
		s.writeError(w, r, fmt.Errorf("%w %q: a patch must be one of %s, %s, %s or %s", errUnsupportedMediaType,
			r.Header.Get("Content-Type"), types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(body) == 0 {
		s.writeError(w, r, apierrors.NewBadRequest("the patch is empty"))
		return
	}
	directive, err := fieldValidation(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dry, err := writeOptions(r, "PatchOptions")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pt == types.ApplyYAMLPatchType {
		if r.URL.Query().Get("fieldManager") == "" {
			s.writeError(w, r, apierrors.NewBadRequest("fieldManager is required for apply requests"))
			return
		}
		body, err = yaml.YAMLToJSON(body)
		if err != nil {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("decode the apply patch as YAML: %v", err)))
			return
		}
		applied, code, err := s.apply(w, r, st, name, sub, body, directive, dry)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeCSR(w, r, code, applied)
		return
	}
	var jp jsonpatch.Patch
	if pt == types.JSONPatchType {
		jp, err = jsonpatch.DecodePatch(body)
		if err != nil {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("decode the JSON patch: %v", err)))
			return
		}
		if len(jp) > maxJSONPatchOperations {
			s.writeError(w, r, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
				"the JSON patch has %d operations, more than the limit of %d", len(jp), maxJSONPatchOperations)))
			return
		}
	} else if !json.Valid(body) {
		s.writeError(w, r, apierrors.NewBadRequest("the patch is not valid JSON"))
		return
	}
	info, _ := s.codecs.serializerFor(mediaJSON)
	var warnings []string
	updated, err := s.update(r.Context(), st.user, name, sub, dry, func(old *certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
		withKind := *old // old is the store's; only the copy gets its kind
		setCSRTypeMeta(&withKind)
		orig, err := json.Marshal(&withKind)
		if err != nil {
			return nil, fmt.Errorf("encode %s for patching: %w", name, err)
		}
		var patched []byte
		switch pt {
		case types.JSONPatchType:
			patched, err = jp.Apply(orig)
		case types.MergePatchType:
			patched, err = jsonpatch.MergePatch(orig, body)
		case types.StrategicMergePatchType:
			patched, err = strategicpatch.StrategicMergePatch(orig, body, &certv1.CertificateSigningRequest{})
		}
		if err != nil {
			if pt == types.JSONPatchType {
				// As kube-apiserver: a JSON patch that cannot apply (a failed
				// test, a missing path) is the client's invalid request.
				return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("apply the %s patch: %v", pt, err))
		}
		csr := &certv1.CertificateSigningRequest{}
		warnings, err = s.decodeObject(info, directive, patched, csrGVK, csr)
		if err != nil {
			return nil, err
		}
		if csr.Name != name {
			return nil, apierrors.NewBadRequest("a patch may not change metadata.name")
		}
		// The patched resourceVersion is a precondition only if the patch set it.
		if csr.ResourceVersion == old.ResourceVersion {
			csr.ResourceVersion = ""
		}
		if err := patchedUID(name, csr, old); err != nil {
			return nil, err
		}
		return csr, nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	s.writeCSR(w, r, http.StatusOK, updated)
}

// apply is server-side apply reduced to what CSRs need: create the object
// if missing (201), else merge its metadata, and conditions on the
// approval and status subresources, into the stored object (200).
func (s *Server) apply(w http.ResponseWriter, r *http.Request, st *reqState, name, sub string, body []byte, directive string, dry bool) (*certv1.CertificateSigningRequest, int, error) {
	info, _ := s.codecs.serializerFor(mediaJSON)
	obj := &certv1.CertificateSigningRequest{}
	warnings, err := s.decodeObject(info, directive, body, csrGVK, obj)
	if err != nil {
		return nil, 0, err
	}
	if obj.APIVersion == "" || obj.Kind == "" {
		return nil, 0, apierrors.NewBadRequest("an apply patch must set apiVersion and kind")
	}
	if obj.Name != name {
		return nil, 0, apierrors.NewBadRequest(fmt.Sprintf(
			"the name of the object (%s) does not match the name on the URL (%s)", obj.Name, name))
	}
	addWarnings(w, warnings)
	if _, _, err := s.getStored(r.Context(), name); apierrors.IsNotFound(err) && sub == "" {
		created, err := s.create(r.Context(), st.user, obj, dry)
		return created, http.StatusCreated, err
	} else if err != nil {
		return nil, 0, err
	}
	updated, err := s.update(r.Context(), st.user, name, sub, dry, func(old *certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
		if err := patchedUID(name, obj, old); err != nil {
			return nil, err
		}
		csr := old.DeepCopy()
		if obj.Labels != nil {
			if csr.Labels == nil {
				csr.Labels = map[string]string{}
			}
			for k, v := range obj.Labels {
				csr.Labels[k] = v
			}
		}
		if obj.Annotations != nil {
			if csr.Annotations == nil {
				csr.Annotations = map[string]string{}
			}
			for k, v := range obj.Annotations {
				csr.Annotations[k] = v
			}
		}
		if obj.Finalizers != nil {
			csr.Finalizers = obj.Finalizers
		}
		if sub != "" {
			for _, c := range obj.Status.Conditions {
				replaced := false
				for i := range csr.Status.Conditions {
					if csr.Status.Conditions[i].Type == c.Type {
						csr.Status.Conditions[i], replaced = c, true
					}
				}
				if !replaced {
					csr.Status.Conditions = append(csr.Status.Conditions, c)
				}
			}
			if len(obj.Status.Certificate) > 0 {
				csr.Status.Certificate = obj.Status.Certificate
			}
		}
		if obj.ResourceVersion != "" {
			csr.ResourceVersion = obj.ResourceVersion
		} else {
			csr.ResourceVersion = ""
		}
		return csr, nil
	})
	return updated, http.StatusOK, err
}

// patchedUID refuses a patch that changes metadata.uid, as kube-apiserver
// does: unlike an update (PUT), whose uid is a precondition (409), a patch
// carries none, so a uid other than the stored one, say from the manifest
// of an earlier object of the same name, changes an immutable field (422).
// A resourceVersion precondition that fails is checked first and wins
// (409), as there.
func patchedUID(name string, csr, old *certv1.CertificateSigningRequest) error {
	if csr.UID == "" || csr.UID == old.UID {
		return nil
	}
	if csr.ResourceVersion != "" && csr.ResourceVersion != old.ResourceVersion {
		return nil
	}
	return invalid(name, field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), csr.UID, "field is immutable")})
}
