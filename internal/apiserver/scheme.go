package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/munnerz/goautoneg"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// Media types the server speaks.
const (
	mediaJSON     = runtime.ContentTypeJSON     // application/json
	mediaYAML     = runtime.ContentTypeYAML     // application/yaml
	mediaProtobuf = runtime.ContentTypeProtobuf // application/vnd.kubernetes.protobuf
)

// Group versions served or used on the wire.
var (
	coreGV      = schema.GroupVersion{Version: "v1"} // the core group, served at /api/v1
	certGV      = certv1.SchemeGroupVersion
	authnGV     = authenticationv1.SchemeGroupVersion
	authzGV     = authorizationv1.SchemeGroupVersion
	metaGV      = metav1.SchemeGroupVersion // meta.k8s.io/v1
	discoveryGV = apidiscoveryv2.SchemeGroupVersion
	csrGVK      = certGV.WithKind("CertificateSigningRequest")
	csrListGVK  = certGV.WithKind("CertificateSigningRequestList")
)

// codecs bundles the scheme and its serializers, built once per server.
type codecs struct {
	scheme  *runtime.Scheme
	factory serializer.CodecFactory
	params  runtime.ParameterCodec // query parameters to options
}

func newCodecs() (*codecs, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		certv1.AddToScheme,
		authenticationv1.AddToScheme,
		authorizationv1.AddToScheme,
		apidiscoveryv2.AddToScheme,
		metav1.AddMetaToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("build API scheme: %w", err)
		}
	}
	metav1.AddToGroupVersion(scheme, metaGV)
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return &codecs{scheme: scheme, factory: serializer.NewCodecFactory(scheme), params: runtime.NewParameterCodec(scheme)}, nil
}

// serializerFor returns the serializer for a media type (without parameters).
func (c *codecs) serializerFor(mediaType string) (runtime.SerializerInfo, bool) {
	for _, info := range c.factory.SupportedMediaTypes() {
		if info.MediaType == mediaType {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// errUnsupportedMediaType is returned for a request body the server cannot decode.
var errUnsupportedMediaType = errors.New("unsupported media type")

// requestSerializer returns the serializer for the request's Content-Type.
// A missing Content-Type reads as JSON, as kube-apiserver does.
func (c *codecs) requestSerializer(r *http.Request) (runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return runtime.SerializerInfo{}, fmt.Errorf("%w %q: %v", errUnsupportedMediaType, ct, err)
	}
	switch mt {
	case mediaJSON, mediaYAML, mediaProtobuf:
		info, ok := c.serializerFor(mt)
		if ok {
			return info, nil
		}
	}
	return runtime.SerializerInfo{}, fmt.Errorf("%w %q", errUnsupportedMediaType, ct)
}

// outputKind is what a response body carries beyond the plain object.
type outputKind int

const (
	outputObject       outputKind = iota // the object itself
	outputTable                          // a meta.k8s.io/v1 Table
	outputMetadata                       // a meta.k8s.io/v1 PartialObjectMetadata per object
	outputMetadataList                   // a meta.k8s.io/v1 PartialObjectMetadataList
	outputDiscovery                      // aggregated discovery (apidiscovery.k8s.io/v2 or v2beta1)
)

// output is a negotiated response format.
type output struct {
	info        runtime.SerializerInfo
	kind        outputKind
	contentType string // the Content-Type header to send
	pretty      bool   // indent JSON (see wantsPretty)
}

// errNotAcceptable is returned when no Accept clause can be served.
var errNotAcceptable = errors.New("not acceptable")

// negotiate picks the response format from the Accept header. allowAs
// says the endpoint serves CSRs, and so can answer with a Table (JSON or
// YAML) or with their metadata alone (PartialObjectMetadata or
// PartialObjectMetadataList, in any format, as client-go's metadata
// client asks); allowDiscovery, that it can answer with aggregated
// discovery. As in kube-apiserver, the endpoint itself refuses a list
// form for one object and the other way round.
func (c *codecs) negotiate(r *http.Request, allowAs, allowDiscovery bool) (output, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = mediaJSON
	}
	pretty := wantsPretty(r)
	for _, clause := range goautoneg.ParseAccept(accept) {
		if clause.Q <= 0 {
			continue
		}
		mt := clause.Type + "/" + clause.SubType
		switch {
		case mt == "*/*" || mt == "application/*":
			mt = mediaJSON
		case mt == "application/json", mt == "application/yaml", mt == mediaProtobuf:
		default:
			continue
		}
		info, ok := c.serializerFor(mt)
		if !ok {
			continue
		}
		as, g, v := clause.Params["as"], clause.Params["g"], clause.Params["v"]
		pretty := pretty && info.PrettySerializer != nil
		switch {
		case as == "":
			return output{info: info, kind: outputObject, contentType: mt, pretty: pretty}, nil
		case as == "Table" && g == metaGV.Group && v == metaGV.Version && allowAs && mt != mediaProtobuf:
			return output{info: info, kind: outputTable, contentType: mt, pretty: pretty}, nil
		case as == "PartialObjectMetadata" && g == metaGV.Group && v == metaGV.Version && allowAs:
			return output{info: info, kind: outputMetadata, contentType: mt, pretty: pretty}, nil
		case as == "PartialObjectMetadataList" && g == metaGV.Group && v == metaGV.Version && allowAs:
			return output{info: info, kind: outputMetadataList, contentType: mt, pretty: pretty}, nil
		case as == "APIGroupDiscoveryList" && g == discoveryGV.Group && (v == "v2" || v == "v2beta1") && allowDiscovery && mt != mediaProtobuf:
			return output{info: info, kind: outputDiscovery,
				contentType: mt + ";g=" + g + ";v=" + v + ";as=APIGroupDiscoveryList"}, nil
		}
	}
	return output{}, fmt.Errorf("%w: none of %q can be served", errNotAcceptable, accept)
}

// encode serializes obj for out.
func (c *codecs) encode(out output, obj runtime.Object) ([]byte, error) {
	if out.pretty {
		return runtime.Encode(out.info.PrettySerializer, obj)
	}
	return runtime.Encode(out.info.Serializer, obj)
}

// wantsPretty reports whether a JSON answer should be indented, as
// kube-apiserver decides: pretty=true or pretty=1 asks for it, any other
// value of pretty refuses it, and without one curl and Wget get it.
func wantsPretty(r *http.Request) bool {
	// As kube-apiserver: a non-empty pretty is read by strconv.ParseBool
	// (an unparsable value is false); else curl and wget get indented
	// output.
	if strings.Contains(r.URL.RawQuery, "pretty") {
		if v := r.URL.Query().Get("pretty"); v != "" {
			pretty, _ := strconv.ParseBool(v)
			return pretty
		}
	}
	ua := r.UserAgent()
	return strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget")
}
