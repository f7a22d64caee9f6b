package apiserver

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Field validation directives (the fieldValidation query parameter).
const (
	fieldValidationStrict = "Strict"
	fieldValidationWarn   = "Warn"
	fieldValidationIgnore = "Ignore"
)

// fieldValidation returns the request's directive; Warn is the default,
// as on kube-apiserver.
func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return fieldValidationWarn, nil
	case fieldValidationStrict, fieldValidationWarn, fieldValidationIgnore:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf(
			"invalid fieldValidation %q: use one of Strict, Warn or Ignore", v))
	}
}

// readBody reads the request body under the size cap.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read the request body: %v", err))
	}
	return data, nil
}

// decodeObject decodes data (in the serializer info's format) into into,
// which must be of kind want. The directive selects strict decoding:
// Strict turns unknown and duplicate fields into a 400, Warn returns them
// as warnings, Ignore drops them. JSON field names are case-sensitive.
func (s *Server) decodeObject(info runtime.SerializerInfo, directive string, data []byte, want schema.GroupVersionKind, into runtime.Object) (warnings []string, err error) {
	if len(data) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty; send a " + want.Kind + " object")
	}
	dec := info.Serializer
	if directive != fieldValidationIgnore && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	obj, gvk, err := decodeSafely(dec, data, &want, into)
	if err != nil {
		if !runtime.IsStrictDecodingError(err) || obj == nil || directive == fieldValidationStrict {
			return nil, decodeError(want, gvk, err, data)
		}
		if se, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range se.Errors() {
				warnings = append(warnings, e.Error())
			}
		}
	}
	if obj != into || gvk == nil || gvk.Group != want.Group || gvk.Kind != want.Kind ||
		(gvk.Version != want.Version && gvk.Version != "") {
		got := "unknown"
		if gvk != nil {
			got = gvk.String()
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf(
			"the body is %s, but this endpoint takes %s", got, want.String()))
	}
	return warnings, nil
}

// decodeError is the 400 for a body that does not decode as want, in
// kube-apiserver's words: the kind and version the body named, or when it
// named none, the start of the body (JSON as text, anything else in hex).
func decodeError(want schema.GroupVersionKind, got *schema.GroupVersionKind, err error, body []byte) error {
	if got != nil && got.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, want.Kind, err))
	}
	const max = 30
	summary := "<empty>"
	switch {
	case len(body) > 0 && body[0] == '{':
		summary = strings.ToValidUTF8(string(body[:min(len(body), max)]), "?")
	case len(body) > 0:
		summary = hex.EncodeToString(body[:min(len(body), max)])
	}
	if len(body) > max {
		summary += " ..."
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)", want.Kind, err, summary))
}

// decodeSafely runs dec.Decode and turns a panic in a decoder into an error.
func decodeSafely(dec runtime.Decoder, data []byte, gvk *schema.GroupVersionKind, into runtime.Object) (obj runtime.Object, got *schema.GroupVersionKind, err error) {
	defer func() {
		if p := recover(); p != nil {
			obj, got, err = nil, nil, fmt.Errorf("malformed body: %v", p)
		}
	}()
	return dec.Decode(data, gvk, into)
}

// addWarnings sets Warning headers (RFC 7234 299) for each message.
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, m := range warnings {
		w.Header().Add("Warning", "299 - "+strconv.Quote(strings.ToValidUTF8(m, "?")))
	}
}

// writeOptions reads the options of a create, update or patch (of the
// options kind CreateOptions, UpdateOptions or PatchOptions) from the
// query, validated as kube-apiserver validates them, and says whether
// the request is a dry run: dryRun is All or absent, and fieldManager at
// most 128 printable characters.
func writeOptions(r *http.Request, kind string) (dry bool, err error) {
	q := r.URL.Query()
	if fm, ok := q["fieldManager"]; ok && len(fm) > 0 {
		if errs := validateFieldManager(fm[0]); len(errs) > 0 {
			return false, optionsInvalid(kind, errs)
		}
	}
	return dryRunValues(q["dryRun"], kind)
}

// validateFieldManager is kube-apiserver's rule for a fieldManager.
func validateFieldManager(fm string) field.ErrorList {
	path := field.NewPath("fieldManager")
	if len(fm) > 128 {
		return field.ErrorList{field.TooLong(path, "", 128)}
	}
	for _, c := range fm {
		if !unicode.IsPrint(c) {
			return field.ErrorList{field.Invalid(path, fm, "must be composed of printable characters")}
		}
	}
	return nil
}

// dryRunValues checks the values of the dryRun parameter of the
// options kind (CreateOptions, UpdateOptions, PatchOptions or
// DeleteOptions): anything but All is a 422, as in kube-apiserver.
func dryRunValues(vals []string, kind string) (bool, error) {
	if errs := validateDryRun(vals); len(errs) > 0 {
		return false, optionsInvalid(kind, errs)
	}
	return len(vals) > 0, nil
}

func validateDryRun(vals []string) field.ErrorList {
	for _, v := range vals {
		if v != metav1.DryRunAll {
			return field.ErrorList{field.NotSupported(field.NewPath("dryRun"), vals, []string{metav1.DryRunAll})}
		}
	}
	return nil
}

// optionsInvalid is the 422 for invalid request options of kind.
func optionsInvalid(kind string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: kind}, "", errs)
}

// validateDeleteOptions checks opts as kube-apiserver does before any
// delete: a propagation policy it knows, not together with the older
// orphanDependents, and dryRun All or nothing.
func validateDeleteOptions(opts *metav1.DeleteOptions) error {
	var errs field.ErrorList
	policy := field.NewPath("propagationPolicy")
	//lint:ignore SA1019 validated for as long as clients may send it
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		errs = append(errs, field.Invalid(policy, opts.PropagationPolicy, "orphanDependents and deletionPropagation cannot be both set"))
	}
	if p := opts.PropagationPolicy; p != nil && *p != metav1.DeletePropagationForeground &&
		*p != metav1.DeletePropagationBackground && *p != metav1.DeletePropagationOrphan {
		errs = append(errs, field.NotSupported(policy, *p, []string{string(metav1.DeletePropagationForeground),
			string(metav1.DeletePropagationBackground), string(metav1.DeletePropagationOrphan), "nil"}))
	}
	errs = append(errs, validateDryRun(opts.DryRun)...)
	if len(errs) > 0 {
		return optionsInvalid("DeleteOptions", errs)
	}
	return nil
}
