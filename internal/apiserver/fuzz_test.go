package apiserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/certificates"
)

func fuzzServer(t testing.TB) *Server {
	t.Helper()
	c, err := newCodecs()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := c.serializerFor(mediaJSON)
	return &Server{codecs: c, jsonInfo: info}
}

// FuzzDecodeCSR feeds request bodies through the decoders of every content
// type and directive, then through create validation: each input gives an
// error or an object, never a panic.
func FuzzDecodeCSR(f *testing.F) {
	seeds := []string{
		`{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"a"},"spec":{"request":"AAAA","signerName":"a.b/c","usages":["client auth"]}}`,
		`{"metadata":{"name":"a"},"spec":{"usagez":1,"usages":["x"],"usages":["y"]}}`,
		`{"apiVersion":"v1","kind":"Pod"}`,
		"apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: a}\n",
		"a: &a [1,2]\nb: &b [*a,*a]\nc: [*b,*b]\n",
		"k8s\x00\x0a\x00\x12\x00",
		`{"spec":{"request":"` + "\x00" + `"}}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
	}
	for _, s := range seeds {
		for _, ct := range []uint8{0, 1, 2} {
			f.Add([]byte(s), ct, uint8(0))
		}
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte, ct, directive uint8) {
		mt := []string{mediaJSON, mediaYAML, mediaProtobuf}[int(ct)%3]
		info, ok := s.codecs.serializerFor(mt)
		if !ok {
			t.Fatalf("no serializer for %s", mt)
		}
		d := []string{fieldValidationStrict, fieldValidationWarn, fieldValidationIgnore}[int(directive)%3]
		csr := &certv1.CertificateSigningRequest{}
		if _, err := s.decodeObject(info, d, data, csrGVK, csr); err != nil {
			return
		}
		certificates.PrepareForCreate(csr, certificates.User{Name: "fuzz", Groups: []string{GroupAuthenticated}})
		_ = certificates.ValidateCreate(csr)
		_ = admitCreate(csr)
		if _, err := encodeStored(csr); err != nil {
			t.Fatalf("a decoded object does not encode: %v", err)
		}
	})
}

// FuzzDecodeStored checks that a corrupt stored value is an error.
func FuzzDecodeStored(f *testing.F) {
	csr := &certv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"a": "b"}}}
	good, err := encodeStored(csr)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	compact, err := encodeStored(issuedCSR(storedTestRequest(f), nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(compact)
	f.Add([]byte{0, storedVersion, storedRequestDER | storedCertificateDER, 0x12, 0x03, 0x0a, 0x01, 0x30})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeStoredValue(data)
	})
}

// FuzzStoredRoundTrip: whatever request and certificate bytes a CSR
// holds, the store gives back exactly those bytes.
func FuzzStoredRoundTrip(f *testing.F) {
	request := storedTestRequest(f)
	f.Add(request, []byte(nil))
	f.Add(request, append(bytes.Clone(request), request...))
	f.Add(bytes.ReplaceAll(request, []byte("\n"), []byte("\r\n")), []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"), []byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, request, certificate []byte) {
		csr := issuedCSR(request, certificate)
		value, err := encodeStored(csr)
		if err != nil {
			t.Fatalf("encodeStored: %v", err)
		}
		got, err := decodeStoredValue(value)
		if err != nil {
			t.Fatalf("a stored value does not read back: %v", err)
		}
		if !bytes.Equal(got.Spec.Request, request) || !bytes.Equal(got.Status.Certificate, certificate) {
			t.Fatalf("read back request %q, certificate %q; wrote %q, %q", got.Spec.Request, got.Status.Certificate, request, certificate)
		}
		if got.Name != csr.Name || len(got.Status.Conditions) != 1 {
			t.Fatalf("the rest of the CSR changed: %+v", got)
		}
	})
}

// FuzzRequestParameters drives path, query and Accept parsing.
func FuzzRequestParameters(f *testing.F) {
	f.Add("/apis/certificates.k8s.io/v1/certificatesigningrequests", "watch=true&resourceVersion=0&labelSelector=a%20in%20(b)&fieldSelector=metadata.name%3Dx",
		"application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	f.Add("/apis/certificates.k8s.io/v1/certificatesigningrequests/x/approval", "limit=-1&continue=%ff", "*/*;q=0.5, application/vnd.kubernetes.protobuf")
	f.Add("/api/v1/events", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=99999999999", ";;;,,,")
	f.Add("/version", "timeout=32s&timeout=-1h&timeout=9223372036854775807ns", "")
	s := fuzzServer(f)
	s.cfg.MaxWatchDuration = DefaultMaxWatchDuration
	f.Fuzz(func(t *testing.T, path, query, accept string) {
		r := httptest.NewRequest(http.MethodGet, "https://x/", nil)
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Accept", accept)
		ri := parseRequestInfo(r)
		if ri.resource && ri.kind == "" {
			t.Fatalf("resource request without a resource: %+v", ri)
		}
		_, _ = parseSelector(r.URL.Query())
		_, _ = parseList(r.URL.Query())
		_, _ = s.parseWatch(r.URL.Query())
		_, _ = s.codecs.negotiate(r, true, true)
		_, _ = fieldValidation(r)
		_, _ = writeOptions(r, "CreateOptions")
		var opts metav1.DeleteOptions
		if s.codecs.params.DecodeParameters(r.URL.Query(), metaGV, &opts) == nil {
			_ = validateDeleteOptions(&opts)
		}
		_, _ = includeObject(r)
		if d, err := requestTimeout(r.URL.Query(), time.Minute); err == nil && (d <= 0 || d > time.Minute) {
			t.Fatalf("requestTimeout(%q) = %v, want within (0, 1m]", r.URL.RawQuery, d)
		}
	})
}
