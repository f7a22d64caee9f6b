package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
		if !runtime.IsStrictDecodingError(err) || obj == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", want.Kind, err))
		}
		if directive == fieldValidationStrict {
			return nil, apierrors.NewBadRequest(err.Error())
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

// dryRun reports whether the request asked for dryRun=All; other values
// are a 400.
func dryRun(r *http.Request) (bool, error) {
	return dryRunValues(r.URL.Query()["dryRun"])
}

// dryRunValues is dryRun for the values of the dryRun parameter.
func dryRunValues(vals []string) (bool, error) {
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("invalid dryRun %q: the only supported value is All", v))
		}
	}
	return len(vals) > 0, nil
}
