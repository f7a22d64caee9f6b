package apiserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// FuzzHandler sends arbitrary requests from an authenticated administrator
// through the whole handler chain onto a real bbolt store: the answer is
// never a 500 and nothing panics.
func FuzzHandler(f *testing.F) {
	ca := pkitest.NewCA(f)
	admin, _ := pkitest.ClientCert(f, ca, "admin", GroupMasters)
	s, _ := newStoreServer(f, ca, time.Second)
	h := s.Handler()
	good := `{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"f"},"spec":{"request":"","signerName":"a.b/c","usages":["client auth"]}}`
	for _, seed := range []struct {
		method uint8
		path   string
		ct     uint8
		body   string
	}{
		{0, "certificatesigningrequests", 0, good},
		{1, "certificatesigningrequests", 0, ""},
		{1, "certificatesigningrequests?watch=true&resourceVersion=0", 0, ""},
		{2, "certificatesigningrequests/f/approval", 0, good},
		{3, "certificatesigningrequests/f", 3, `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`},
		{3, "certificatesigningrequests/f", 6, good},
		{4, "certificatesigningrequests?labelSelector=a", 0, `{"preconditions":{"uid":"x"}}`},
		{0, "certificatesigningrequests", 2, "k8s\x00junk"},
	} {
		f.Add(seed.method, seed.path, seed.ct, []byte(seed.body))
	}
	methods := []string{"POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	types := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
		"application/apply-patch+yaml", "text/plain", ""}
	f.Fuzz(func(t *testing.T, method uint8, path string, ct uint8, body []byte) {
		if strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		target := "https://kubepki/apis/certificates.k8s.io/v1/" + path
		if strings.Contains(path, "watch") && !strings.Contains(path, "timeoutSeconds") {
			target += "&timeoutSeconds=1"
		}
		r, err := http.NewRequest(methods[int(method)%len(methods)], target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if u := r.URL.Query(); u.Get("fieldManager") == "" {
			q := r.URL.RawQuery
			if q != "" {
				q += "&"
			}
			r.URL.RawQuery = q + "fieldManager=fuzz"
		}
		r.Header.Set("Content-Type", types[int(ct)%len(types)])
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{admin}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s (%s, %d bytes) = %d: %s", r.Method, target, r.Header.Get("Content-Type"), len(body), w.Code, w.Body.String())
		}
	})
}
