package apiserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/storage"
)

// Limits on names and retries.
const (
	maxNameLength       = 253
	generateNameRetries = 3
)

// csrKey is the store key of the CSR name.
func csrKey(name string) string { return csrPrefix + name }

func setCSRTypeMeta(csr *certv1.CertificateSigningRequest) {
	csr.APIVersion, csr.Kind = csrGVK.GroupVersion().String(), csrGVK.Kind
}

// getStored reads one CSR.
func (s *Server) getStored(ctx context.Context, name string) (*certv1.CertificateSigningRequest, storage.KV, error) {
	kv, err := s.store.Get(ctx, csrKey(name))
	if err != nil {
		return nil, storage.KV{}, storageError(err, name)
	}
	csr, err := decodeStored(kv)
	if err != nil {
		return nil, storage.KV{}, err
	}
	return csr, kv, nil
}

// pathNameError is the 400 for a name in a request path that
// validateNameSegment refuses, nil for a good one.
func pathNameError(name string) error {
	if msg := validateNameSegment(name); msg != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid name %q in the path: %s", name, msg))
	}
	return nil
}

// validateNameSegment returns why name cannot be an object name in a path
// (and a store key), or "".
func validateNameSegment(name string) string {
	switch {
	case name == "." || name == "..":
		return "may not be '.' or '..'"
	case strings.ContainsAny(name, "/%"):
		return "may not contain '/' or '%'"
	case len(name) > maxNameLength:
		return fmt.Sprintf("must be no more than %d characters", maxNameLength)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "may not contain control characters"
		}
	}
	return ""
}

func (s *Server) user(r *http.Request) *UserInfo { return stateFrom(r.Context()).user }

// writeCSR answers with one CSR, as the object or a one-row Table.
func (s *Server) writeCSR(w http.ResponseWriter, r *http.Request, code int, csr *certv1.CertificateSigningRequest) {
	out, err := s.codecs.negotiate(r, true, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch out.kind {
	case outputTable:
		tbl, err := s.csrTable(r, []certv1.CertificateSigningRequest{*csr}, csr.ResourceVersion, "", true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeEncoded(w, r, out, code, tbl)
		return
	case outputMetadata:
		s.writeEncoded(w, r, out, code, partialMetadata(csr))
		return
	case outputMetadataList:
		s.writeError(w, r, errListForm)
		return
	}
	setCSRTypeMeta(csr)
	s.writeEncoded(w, r, out, code, csr)
}

// writeObject answers with any registered object in the negotiated format
// (no Table form).
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	out, err := s.codecs.negotiate(r, false, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeEncoded(w, r, out, code, obj)
}

func (s *Server) writeEncoded(w http.ResponseWriter, r *http.Request, out output, code int, obj runtime.Object) {
	data, err := s.codecs.encode(out, obj)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode %T: %w", obj, err))
		return
	}
	w.Header().Set("Content-Type", out.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(data) >= gzipThreshold && acceptsGzip(r) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := zw.Write(data); err == nil && zw.Close() == nil {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Add("Vary", "Accept-Encoding")
			data = buf.Bytes()
		}
	}
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// gzipThreshold is the smallest answer worth compressing (kube-apiserver's).
const gzipThreshold = 128 << 10

// acceptsGzip reports whether the client accepts gzip-encoded answers.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}

func (s *Server) getCSR(w http.ResponseWriter, r *http.Request, name string) {
	if strings.Contains(r.URL.RawQuery, "resourceVersion") { // parse the query only then
		// "Not older than": a resourceVersion the store has not reached
		// is waited for, then 504, as kube-apiserver's watch cache does.
		if v := r.URL.Query().Get("resourceVersion"); v != "" && v != "0" {
			rev, err := parseResourceVersion(v)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if err := s.awaitRevision(r.Context(), rev); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	}
	csr, _, err := s.getStored(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCSR(w, r, http.StatusOK, csr)
}

// decodeCSR decodes a CSR request body with the request's field validation.
func (s *Server) decodeCSR(w http.ResponseWriter, r *http.Request, data []byte) (*certv1.CertificateSigningRequest, error) {
	info, err := s.codecs.requestSerializer(r)
	if err != nil {
		return nil, err
	}
	directive, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	csr := &certv1.CertificateSigningRequest{}
	warnings, err := s.decodeObject(info, directive, data, csrGVK, csr)
	if err != nil {
		return nil, err
	}
	addWarnings(w, warnings)
	return csr, nil
}

func invalid(name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(csrGVK.GroupKind(), name, errs)
}

func (s *Server) createCSR(w http.ResponseWriter, r *http.Request, st *reqState) {
	data, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	csr, err := s.decodeCSR(w, r, data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st.auditName = csr.Name // a refused create names the CSR it asked for
	dry, err := writeOptions(r, "CreateOptions")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.create(r.Context(), st.user, csr, dry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st.auditName = created.Name
	s.writeCSR(w, r, http.StatusCreated, created)
}

// create validates, admits and stores a new CSR for user u.
func (s *Server) create(ctx context.Context, u *UserInfo, csr *certv1.CertificateSigningRequest, dry bool) (*certv1.CertificateSigningRequest, error) {
	certificates.PrepareForCreate(csr, certificates.User{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra})
	csr.Namespace = ""
	csr.UID = uuid.NewUUID()
	csr.CreationTimestamp = metav1.NewTime(s.now().UTC())
	csr.ResourceVersion = ""
	csr.Generation = 0
	csr.DeletionTimestamp = nil
	csr.DeletionGracePeriodSeconds = nil
	csr.ManagedFields = nil
	csr.SelfLink = ""
	generate := csr.Name == "" && csr.GenerateName != ""
	if generate {
		csr.Name = csr.GenerateName + randomSuffix()
	}
	if errs := certificates.ValidateCreate(csr); len(errs) > 0 {
		return nil, invalid(csr.Name, errs)
	}
	if msg := validateNameSegment(csr.Name); msg != "" {
		return nil, invalid(csr.Name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), csr.Name, msg)})
	}
	if err := admitCreate(csr); err != nil {
		return nil, err
	}
	if err := s.checkPendingQuota(u, csr.Name); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		value, err := encodeStored(csr)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", csr.Name, err)
		}
		if dry {
			if _, err := s.store.Get(ctx, csrKey(csr.Name)); err == nil {
				return nil, apierrors.NewAlreadyExists(csrResource, csr.Name)
			} else if !errors.Is(err, storage.ErrNotFound) {
				return nil, storageError(err, csr.Name)
			}
			return csr, nil
		}
		rev, err := s.store.Create(ctx, csrKey(csr.Name), value)
		if errors.Is(err, storage.ErrExists) && generate && attempt < generateNameRetries {
			csr.Name = csr.GenerateName + randomSuffix()
			continue
		}
		if err != nil {
			return nil, storageError(err, csr.Name)
		}
		csr.ResourceVersion = strconv.FormatInt(rev, 10)
		if s.pending != nil {
			// Counted now, so that a burst of creates is bounded
			// before the index's watch sees them.
			s.pending.set(csr.Name, csr.Spec.Username, counted(csr))
		}
		return csr, nil
	}
}

// admitCreate is kube-apiserver's CertificateSubjectRestriction admission:
// no system:masters through the kube-apiserver-client signer.
func admitCreate(csr *certv1.CertificateSigningRequest) error {
	if csr.Spec.SignerName != certv1.KubeAPIServerClientSignerName {
		return nil
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return nil // validation already refused it
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil
	}
	if slices.Contains(req.Subject.Organization, GroupMasters) {
		return apierrors.NewForbidden(csrResource, csr.Name,
			errors.New("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"))
	}
	return nil
}

const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// randomSuffix is apiserver's generateName suffix: 5 characters.
func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return string(b)
}

func (s *Server) updateCSR(w http.ResponseWriter, r *http.Request, st *reqState, name, sub string) {
	data, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	csr, err := s.decodeCSR(w, r, data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if csr.Name != name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf(
			"the name of the object (%s) does not match the name on the URL (%s)", csr.Name, name)))
		return
	}
	dry, err := writeOptions(r, "UpdateOptions")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	updated, err := s.update(r.Context(), st.user, name, sub, dry, func(*certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
		return csr.DeepCopy(), nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCSR(w, r, http.StatusOK, updated)
}

// update applies an update to the stored CSR name through the
// subresource's rules. mutate returns the object the client wants given
// the stored one, which it must not modify: a new object, which update
// then changes. Its resourceVersion, when set, is a precondition; an
// update without one that loses its compare-and-swap to another writer is
// tried again on the new state until ctx ends, as kube-apiserver does, so
// it never answers 409.
func (s *Server) update(ctx context.Context, u *UserInfo, name, sub string, dry bool,
	mutate func(old *certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error)) (*certv1.CertificateSigningRequest, error) {
	for {
		old, kv, err := s.getStored(ctx, name)
		if err != nil {
			return nil, err
		}
		csr, err := mutate(old)
		if err != nil {
			return nil, err
		}
		conditional := csr.ResourceVersion != ""
		if conditional && csr.ResourceVersion != old.ResourceVersion {
			return nil, apierrors.NewConflict(csrResource, name, errors.New(conflictMessage))
		}
		if csr.UID != "" && csr.UID != old.UID {
			return nil, apierrors.NewConflict(csrResource, name, fmt.Errorf(
				"Precondition failed: UID in precondition: %s, UID in object meta: %s", csr.UID, old.UID))
		}
		csr.TypeMeta = metav1.TypeMeta{}
		csr.UID = old.UID
		csr.CreationTimestamp = old.CreationTimestamp
		csr.Namespace = ""
		csr.Generation = old.Generation
		csr.DeletionTimestamp = old.DeletionTimestamp
		csr.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds
		csr.ManagedFields = old.ManagedFields
		csr.SelfLink = ""
		csr.ResourceVersion = old.ResourceVersion
		var errs field.ErrorList
		switch sub {
		case "":
			certificates.PrepareForUpdate(csr, old)
			errs = certificates.ValidateUpdate(csr, old)
		case "approval":
			certificates.PrepareForApprovalUpdateAt(csr, old, s.now())
			errs = certificates.ValidateApprovalUpdate(csr, old)
		case "status":
			certificates.PrepareForStatusUpdateAt(csr, old, s.now())
			errs = certificates.ValidateStatusUpdate(csr, old)
		}
		if len(errs) > 0 {
			return nil, invalid(name, errs)
		}
		if err := s.admitUpdate(ctx, u, sub, csr, old); err != nil {
			return nil, err
		}
		value, err := encodeStored(csr)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", name, err)
		}
		if slices.Equal(value, kv.Value) {
			return old, nil // nothing changed: no write, no new resourceVersion
		}
		rev := kv.Revision
		if csr.DeletionTimestamp != nil && len(csr.Finalizers) == 0 {
			// The last finalizer is gone: the deletion completes.
			if !dry {
				_, err = s.store.Delete(ctx, csrKey(name), kv.Revision)
				if errors.Is(err, storage.ErrConflict) && !conditional && ctx.Err() == nil {
					continue
				}
				if err != nil {
					return nil, storageError(err, name)
				}
			}
			return decodeStored(storage.KV{Key: csrKey(name), Value: value, Revision: rev})
		}
		if !dry {
			rev, err = s.store.Update(ctx, csrKey(name), kv.Revision, value)
			if errors.Is(err, storage.ErrConflict) && !conditional && ctx.Err() == nil {
				continue
			}
			if err != nil {
				return nil, storageError(err, name)
			}
		}
		// Only requests through the HTTP filters have an audit line; the
		// controllers' in-process writes (LocalClient) do not.
		if st, ok := ctx.Value(stateKey{}).(*reqState); ok && !dry && sub != "" {
			st.auditConditions = addedConditions(csr, old)
		}
		// The answer is what the store holds, as its encoding has it
		// (times in whole seconds), as a later read returns it.
		return decodeStored(storage.KV{Key: csrKey(name), Value: value, Revision: rev})
	}
}

// addedConditions returns the types of the conditions csr has and old
// has not, in csr's order.
func addedConditions(csr, old *certv1.CertificateSigningRequest) []string {
	var added []string
	for _, c := range csr.Status.Conditions {
		if !slices.ContainsFunc(old.Status.Conditions, func(o certv1.CertificateSigningRequestCondition) bool { return o.Type == c.Type }) {
			added = append(added, string(c.Type))
		}
	}
	return added
}

// admitUpdate is kube-apiserver's CertificateApproval and
// CertificateSigning admission: approve or sign on the signers resource
// named after the stored signerName (or its "<domain>/*").
func (s *Server) admitUpdate(ctx context.Context, u *UserInfo, sub string, csr, old *certv1.CertificateSigningRequest) error {
	var verb string
	switch sub {
	case "approval":
		verb = "approve"
	case "status":
		if slices.Equal(csr.Status.Certificate, old.Status.Certificate) &&
			conditionsEqual(csr.Status.Conditions, old.Status.Conditions) {
			return nil
		}
		verb = "sign"
	default:
		return nil
	}
	signer := old.Spec.SignerName
	ok, err := s.signerAllowed(ctx, u, verb, signer)
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewForbidden(csrResource, csr.Name,
			fmt.Errorf("user not permitted to %s requests with signerName %q", verb, signer))
	}
	return nil
}

// signerAllowed checks verb on signers/<signerName>, then signers/<domain>/*.
func (s *Server) signerAllowed(ctx context.Context, u *UserInfo, verb, signer string) (bool, error) {
	a := Attributes{User: u, Verb: verb, APIGroup: certGV.Group, APIVersion: "*",
		Resource: "signers", Name: signer, ResourceRequest: true}
	ok, _, err := s.authz.Authorize(ctx, a)
	if err != nil || ok {
		return ok, err
	}
	domain, _, found := strings.Cut(signer, "/")
	if !found {
		return false, nil
	}
	a.Name = domain + "/*"
	ok, _, err = s.authz.Authorize(ctx, a)
	return ok, err
}

func conditionsEqual(a, b []certv1.CertificateSigningRequestCondition) bool {
	return slices.EqualFunc(a, b, func(x, y certv1.CertificateSigningRequestCondition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message &&
			x.LastUpdateTime.Equal(&y.LastUpdateTime) && x.LastTransitionTime.Equal(&y.LastTransitionTime)
	})
}

func (s *Server) deleteCSR(w http.ResponseWriter, r *http.Request, st *reqState, name string) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	deleted, gone, err := s.delete(r.Context(), name, opts.Preconditions, len(opts.DryRun) > 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !gone {
		s.writeCSR(w, r, http.StatusOK, deleted) // waiting for its finalizers
		return
	}
	s.writeObject(w, r, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: name, Group: certGV.Group,
			Kind: csrResource.Resource, UID: deleted.UID},
	})
}

// deleteOptions reads the DeleteOptions of a delete, as kube-apiserver
// does: from the body when there is one, else from the query parameters
// (dryRun, propagationPolicy, gracePeriodSeconds, orphanDependents), and
// validates them.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		if err := s.codecs.params.DecodeParameters(r.URL.Query(), metaGV, opts); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return opts, validateDeleteOptions(opts)
	}
	info, err := s.codecs.requestSerializer(r)
	if err != nil {
		return nil, err
	}
	want := metaGV.WithKind("DeleteOptions")
	obj, gvk, err := decodeSafely(info.Serializer, data, &want, opts)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err))
	}
	if obj != opts || gvk == nil || gvk.Kind != "DeleteOptions" {
		return nil, apierrors.NewBadRequest("the body of a delete must be DeleteOptions")
	}
	return opts, validateDeleteOptions(opts)
}

// delete removes the CSR name, honouring the preconditions, and says
// whether it is gone. A CSR with finalizers is not removed but marked
// with a deletionTimestamp (once); the update that removes its last
// finalizer removes it.
func (s *Server) delete(ctx context.Context, name string, pre *metav1.Preconditions, dry bool) (*certv1.CertificateSigningRequest, bool, error) {
	for {
		old, kv, err := s.getStored(ctx, name)
		if err != nil {
			return nil, false, err
		}
		conditional := false
		if pre != nil {
			if pre.UID != nil && *pre.UID != old.UID {
				return nil, false, apierrors.NewConflict(csrResource, name, fmt.Errorf(
					"Precondition failed: UID in precondition: %s, UID in object meta: %s", *pre.UID, old.UID))
			}
			if pre.ResourceVersion != nil {
				conditional = true
				if *pre.ResourceVersion != old.ResourceVersion {
					return nil, false, apierrors.NewConflict(csrResource, name, fmt.Errorf(
						"Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
						*pre.ResourceVersion, old.ResourceVersion))
				}
			}
		}
		if len(old.Finalizers) > 0 {
			// Kubernetes' graceful path: the object stays, marked, until
			// an update removes its last finalizer.
			if old.DeletionTimestamp != nil {
				return old, false, nil
			}
			marked := old.DeepCopy()
			now := metav1.NewTime(s.now().UTC())
			marked.DeletionTimestamp = &now
			marked.DeletionGracePeriodSeconds = new(int64)
			value, err := encodeStored(marked)
			if err != nil {
				return nil, false, fmt.Errorf("encode %s: %w", name, err)
			}
			rev := kv.Revision
			if !dry {
				rev, err = s.store.Update(ctx, csrKey(name), kv.Revision, value)
				if errors.Is(err, storage.ErrConflict) && !conditional && ctx.Err() == nil {
					continue
				}
				if err != nil {
					return nil, false, storageError(err, name)
				}
			}
			marked, err = decodeStored(storage.KV{Key: csrKey(name), Value: value, Revision: rev})
			return marked, false, err
		}
		if dry {
			return old, true, nil
		}
		_, err = s.store.Delete(ctx, csrKey(name), kv.Revision)
		if errors.Is(err, storage.ErrConflict) && !conditional && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, false, storageError(err, name)
		}
		return old, true, nil
	}
}
