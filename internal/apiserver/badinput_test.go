package apiserver_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

const csrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

// httpClient returns a plain HTTPS client for user in groups (no user
// when user is empty).
func httpClient(t testing.TB, srv *apiservertest.Server, user string, groups ...string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if user != "" {
		certPEM, keyPEM := srv.ClientCert(user, groups...)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

type httpResult struct {
	code   int
	body   []byte
	header http.Header
	status metav1.Status
}

func do(t testing.TB, c *http.Client, method, url, contentType string, body []byte, header ...string) httpResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := httpResult{code: resp.StatusCode, body: data, header: resp.Header}
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") { // health checks answer text
		if err := json.Unmarshal(data, &res.status); err != nil || res.status.Kind != "Status" {
			t.Errorf("%s %s: %d with a body that is not a Status: %q", method, url, resp.StatusCode, data)
		}
	}
	return res
}

func csrJSON(t testing.TB, mutate func(*certv1.CertificateSigningRequest)) []byte {
	t.Helper()
	csr := newCSR(t, "bad", "bob")
	csr.APIVersion, csr.Kind = "certificates.k8s.io/v1", "CertificateSigningRequest"
	if mutate != nil {
		mutate(csr)
	}
	data, err := json.Marshal(csr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	anon := httpClient(t, srv, "")
	dev := httpClient(t, srv, "dev-user", "devs") // may create CSRs, not patch them
	base := srv.URL + csrPath

	// A stored CSR for the update cases, approved once.
	stored := do(t, admin, "POST", base, "application/json", csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Name = "stored" }))
	if stored.code != http.StatusCreated {
		t.Fatalf("create stored: %d %s", stored.code, stored.body)
	}
	var storedCSR certv1.CertificateSigningRequest
	if err := json.Unmarshal(stored.body, &storedCSR); err != nil {
		t.Fatal(err)
	}
	storedCSR.Status.Conditions = []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"}}
	approvedBody, _ := json.Marshal(storedCSR)
	approved := do(t, admin, "PUT", base+"/stored/approval", "application/json", approvedBody)
	if approved.code != http.StatusOK {
		t.Fatalf("approve stored: %d %s", approved.code, approved.body)
	}
	var approvedCSR certv1.CertificateSigningRequest
	if err := json.Unmarshal(approved.body, &approvedCSR); err != nil {
		t.Fatal(err)
	}

	certDER := srv.CA.Cert.Raw
	badSig := func() []byte {
		block, _ := pem.Decode(csrPEM(t, "bob"))
		block.Bytes[len(block.Bytes)-3] ^= 0xff
		return pem.EncodeToMemory(block)
	}()
	bigBody := bytes.Repeat([]byte("a"), 5<<20)
	aliasBomb := []byte(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`)
	bothConditions := approvedCSR.DeepCopy()
	bothConditions.Status.Conditions = append(bothConditions.Status.Conditions,
		certv1.CertificateSigningRequestCondition{Type: certv1.CertificateDenied, Status: corev1.ConditionTrue})
	bothBody, _ := json.Marshal(bothConditions)
	removed := approvedCSR.DeepCopy()
	removed.Status.Conditions = nil
	removedBody, _ := json.Marshal(removed)
	stale := storedCSR.DeepCopy() // resourceVersion before the approval
	stale.Labels = map[string]string{"x": "y"}
	staleBody, _ := json.Marshal(stale)

	tests := []struct {
		name        string
		client      *http.Client
		method, url string
		contentType string
		body        []byte
		header      []string
		wantCode    int
		wantReason  metav1.StatusReason
		wantCause   string // a field that must be among details.causes
	}{
		{"request not PEM", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Spec.Request = []byte("not a pem") }),
			nil, 422, metav1.StatusReasonInvalid, "spec.request"},
		{"wrong PEM type", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) {
				c.Spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
			}), nil, 422, metav1.StatusReasonInvalid, "spec.request"},
		{"bad CSR signature", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Spec.Request = badSig }),
			nil, 422, metav1.StatusReasonInvalid, "spec.request"},
		{"invalid name", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Name = "a/b" }),
			nil, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"unknown usage", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Spec.Usages = []certv1.KeyUsage{"client auth", "flying"} }),
			nil, 422, metav1.StatusReasonInvalid, "spec.usages[1]"},
		{"malformed signerName", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Spec.SignerName = "no-slash" }),
			nil, 422, metav1.StatusReasonInvalid, "spec.signerName"},
		{"expirationSeconds under 600", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { s := int32(599); c.Spec.ExpirationSeconds = &s }),
			nil, 422, metav1.StatusReasonInvalid, "spec.expirationSeconds"},
		{"both Approved and Denied", admin, "PUT", base + "/stored/approval", "application/json", bothBody,
			nil, 422, metav1.StatusReasonInvalid, "status.conditions"},
		{"removed Approved condition", admin, "PUT", base + "/stored/approval", "application/json", removedBody,
			nil, 422, metav1.StatusReasonInvalid, "status.conditions"},
		{"5 MB body", admin, "POST", base, "application/json", bigBody, nil, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		// Who may not send the request learns that first.
		{"5 MB body without credentials", anon, "POST", base, "application/json", bigBody, nil, 401, metav1.StatusReasonUnauthorized, ""},
		{"5 MB patch without the right", dev, "PATCH", base + "/stored", "application/merge-patch+json", bigBody, nil, 403, metav1.StatusReasonForbidden, ""},
		{"malformed JSON", admin, "POST", base, "application/json", []byte(`{"apiVersion":`), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"malformed YAML", admin, "POST", base, "application/yaml", []byte("a: [\n b: :"), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"YAML alias bomb", admin, "POST", base, "application/yaml", aliasBomb, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unknown field under Strict", admin, "POST", base + "?fieldValidation=Strict", "application/json",
			bytes.Replace(csrJSON(t, nil), []byte(`"usages"`), []byte(`"usagez":["x"],"usages"`), 1),
			nil, 400, metav1.StatusReasonBadRequest, ""},
		{"case-mismatched field under Strict", admin, "POST", base + "?fieldValidation=Strict", "application/json",
			bytes.Replace(csrJSON(t, nil), []byte(`"signerName"`), []byte(`"SignerName"`), 1),
			nil, 400, metav1.StatusReasonBadRequest, ""},
		{"duplicate field under Strict", admin, "POST", base + "?fieldValidation=Strict", "application/json",
			bytes.Replace(csrJSON(t, nil), []byte(`"usages"`), []byte(`"signerName":"a.b/c","usages"`), 1),
			nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad fieldValidation", admin, "POST", base + "?fieldValidation=Loose", "application/json", csrJSON(t, nil),
			nil, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong kind", admin, "POST", base, "application/json", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`),
			nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unsupported media type", admin, "POST", base, "text/plain", csrJSON(t, nil), nil, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"unacceptable Accept", admin, "GET", base, "", nil, []string{"Accept", "image/png"}, 406, metav1.StatusReasonNotAcceptable, ""},
		{"no credentials", anon, "GET", base, "", nil, nil, 401, metav1.StatusReasonUnauthorized, ""},
		{"system:masters through kube-apiserver-client", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Spec.Request = csrPEM(t, "evil", "system:masters") }),
			nil, 403, metav1.StatusReasonForbidden, ""},
		{"stale resourceVersion", admin, "PUT", base + "/stored", "application/json", staleBody, nil, 409, metav1.StatusReasonConflict, ""},
		{"name taken", admin, "POST", base, "application/json",
			csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Name = "stored" }), nil, 409, metav1.StatusReasonAlreadyExists, ""},
		{"name mismatch on update", admin, "PUT", base + "/other", "application/json", approvedBody, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"not found", admin, "GET", base + "/nope", "", nil, nil, 404, metav1.StatusReasonNotFound, ""},
		{"unknown subresource", admin, "GET", base + "/stored/nope", "", nil, nil, 404, metav1.StatusReasonNotFound, ""},
		{"method not allowed", admin, "POST", base + "/stored", "application/json", csrJSON(t, nil), nil, 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"PUT on the collection", admin, "PUT", base, "application/json", approvedBody, nil, 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"PATCH on the collection", admin, "PATCH", base, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"a":"b"}}}`), nil, 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"bad label selector", admin, "GET", base + "?labelSelector=a%20in%20(", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unsupported field selector", admin, "GET", base + "?fieldSelector=spec.username%3Dx", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad limit", admin, "GET", base + "?limit=ten", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"sendInitialEvents on a list", admin, "GET", base + "?sendInitialEvents=true", "", nil, nil, 422, metav1.StatusReasonInvalid, "ListOptions:sendInitialEvents"},
		{"bad continue", admin, "GET", base + "?limit=1&continue=garbage", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad watch resourceVersion", admin, "GET", base + "?watch=true&resourceVersion=abc", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"sendInitialEvents without NotOlderThan", admin, "GET", base + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad dryRun", admin, "POST", base + "?dryRun=Some", "application/json", csrJSON(t, nil), nil, 422, metav1.StatusReasonInvalid, "CreateOptions:dryRun"},
		{"bad dryRun on patch", admin, "PATCH", base + "/stored?dryRun=Some", "application/merge-patch+json", []byte(`{}`), nil, 422, metav1.StatusReasonInvalid, "PatchOptions:dryRun"},
		{"bad dryRun on delete", admin, "DELETE", base + "/stored?dryRun=Some", "", nil, nil, 422, metav1.StatusReasonInvalid, "DeleteOptions:dryRun"},
		{"bad propagationPolicy", admin, "DELETE", base + "/stored", "application/json", []byte(`{"propagationPolicy":"Bogus"}`),
			nil, 422, metav1.StatusReasonInvalid, "DeleteOptions:propagationPolicy"},
		{"bad propagationPolicy in the query", admin, "DELETE", base + "/stored?propagationPolicy=Bogus", "", nil,
			nil, 422, metav1.StatusReasonInvalid, "DeleteOptions:propagationPolicy"},
		{"orphanDependents with propagationPolicy", admin, "DELETE", base + "/stored", "application/json",
			[]byte(`{"orphanDependents":true,"propagationPolicy":"Background"}`), nil, 422, metav1.StatusReasonInvalid, "DeleteOptions:propagationPolicy"},
		{"bad propagationPolicy on deletecollection", admin, "DELETE", base + "?propagationPolicy=Bogus", "", nil,
			nil, 422, metav1.StatusReasonInvalid, "DeleteOptions:propagationPolicy"},
		{"fieldManager too long", admin, "POST", base + "?fieldManager=" + strings.Repeat("m", 129), "application/json", csrJSON(t, nil),
			nil, 422, metav1.StatusReasonInvalid, "CreateOptions:fieldManager"},
		{"fieldManager not printable", admin, "PATCH", base + "/stored?fieldManager=a%07b", "application/merge-patch+json", []byte(`{}`),
			nil, 422, metav1.StatusReasonInvalid, "PatchOptions:fieldManager"},
		{"apply with a fieldManager too long", admin, "PATCH", base + "/stored?fieldManager=" + strings.Repeat("m", 129), "application/apply-patch+yaml", csrJSON(t, nil),
			nil, 422, metav1.StatusReasonInvalid, "PatchOptions:fieldManager"},
		{"get at a bad resourceVersion", admin, "GET", base + "/stored?resourceVersion=abc", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad gracePeriodSeconds", admin, "DELETE", base + "/stored?gracePeriodSeconds=soon", "", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad JSON patch", admin, "PATCH", base + "/stored", "application/json-patch+json", []byte(`{"op":1}`), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"bad merge patch", admin, "PATCH", base + "/stored", "application/merge-patch+json", []byte(`{`), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"apply without fieldManager", admin, "PATCH", base + "/stored", "application/apply-patch+yaml", csrJSON(t, nil), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"patch of unknown type", admin, "PATCH", base + "/stored", "application/xml", []byte(`<x/>`), nil, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"protobuf garbage", admin, "POST", base, "application/vnd.kubernetes.protobuf", []byte("k8s\x00\xff\xff\xff"), nil, 400, metav1.StatusReasonBadRequest, ""},
		{"empty body", admin, "POST", base, "application/json", nil, nil, 400, metav1.StatusReasonBadRequest, ""},
		{"too many path segments", admin, "GET", base + "/a/b/c", "", nil, nil, 404, metav1.StatusReasonNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := srv.Store.CurrentRevision(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			res := do(t, tc.client, tc.method, tc.url, tc.contentType, tc.body, tc.header...)
			if res.code != tc.wantCode || res.status.Reason != tc.wantReason || res.status.Code != int32(tc.wantCode) {
				t.Errorf("%s %s = %d %s (Status code %d), want %d %s; body %.300s",
					tc.method, tc.name, res.code, res.status.Reason, res.status.Code, tc.wantCode, tc.wantReason, res.body)
			}
			if tc.wantCause != "" {
				// "Kind:field" names the kind of the invalid object.
				kind, cause, ok := strings.Cut(tc.wantCause, ":")
				if !ok {
					kind, cause = "CertificateSigningRequest", tc.wantCause
				}
				found := false
				if res.status.Details != nil {
					for _, c := range res.status.Details.Causes {
						found = found || strings.HasPrefix(c.Field, cause)
					}
				}
				if !found || res.status.Details.Kind != kind {
					t.Errorf("Status details = %+v, want kind %s and a cause on %s", res.status.Details, kind, cause)
				}
			}
			after, err := srv.Store.CurrentRevision(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("store revision went %d → %d, want unchanged", before, after)
			}
		})
	}
	// The server still serves.
	if res := do(t, admin, "GET", base+"/stored", "", nil); res.code != http.StatusOK {
		t.Errorf("GET after the bad inputs = %d, want 200", res.code)
	}
	if res := do(t, anon, "GET", srv.URL+"/healthz", "", nil); res.code != http.StatusOK || string(res.body) != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", res.code, res.body)
	}
}

// TestDecodeErrorWording: a body that does not decode is answered in
// kube-apiserver's words, which scripts match.
func TestDecodeErrorWording(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	base := srv.URL + csrPath
	badBase64 := bytes.Replace(csrJSON(t, nil), []byte(`"request":"`), []byte(`"request":"!!`), 1)
	for _, tc := range []struct {
		name, url, contentType string
		body                   []byte
		want                   string
	}{
		{"bad base64", base, "application/json", badBase64,
			`CertificateSigningRequest in version "v1" cannot be handled as a CertificateSigningRequest: illegal base64 data at input byte 0`},
		{"unknown field under Strict", base + "?fieldValidation=Strict", "application/json",
			bytes.Replace(csrJSON(t, nil), []byte(`"usages"`), []byte(`"usagez":["x"],"usages"`), 1),
			`CertificateSigningRequest in version "v1" cannot be handled as a CertificateSigningRequest: strict decoding error: unknown field "spec.usagez"`},
		{"malformed JSON", base, "application/json", []byte(`{"apiVersion":`),
			`the object provided is unrecognized (must be of type CertificateSigningRequest): `},
		{"malformed JSON, summarized", base, "application/json", []byte(`{"apiVersion":`),
			`({"apiVersion":)`},
		{"protobuf garbage, in hex", base, "application/vnd.kubernetes.protobuf", []byte("k8s\x00\xff\xff\xff"),
			`(6b387300ffffff)`},
	} {
		res := do(t, admin, "POST", tc.url, tc.contentType, tc.body)
		if res.code != http.StatusBadRequest || !strings.Contains(res.status.Message, tc.want) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.name, res.code, res.status.Message, tc.want)
		}
	}
}

// TestGetFutureResourceVersion: a get at a resourceVersion the store has
// not reached waits for it, then answers 504 Too large resource version,
// as kube-apiserver does; one it has reached is served.
func TestGetFutureResourceVersion(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	created, err := cs.Create(t.Context(), newCSR(t, "rv", "rv"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res := do(t, admin, "GET", srv.URL+csrPath+"/rv?resourceVersion="+created.ResourceVersion, "", nil); res.code != http.StatusOK {
		t.Errorf("get at the object's resourceVersion = %d %s", res.code, res.body)
	}
	res := do(t, admin, "GET", srv.URL+csrPath+"/rv?resourceVersion=999999", "", nil)
	if res.code != http.StatusGatewayTimeout || !strings.Contains(res.status.Message, "Too large resource version: 999999") {
		t.Errorf("get at a future resourceVersion = %d %q, want 504 Too large resource version", res.code, res.status.Message)
	}
	// kube-apiserver reads a resourceVersion as any unsigned 64-bit
	// integer; one beyond int64, which no store revision reaches, is a
	// future version too, not a malformed one. Gets and lists run at once.
	var wg sync.WaitGroup
	for _, v := range []string{"9223372036854775808", "18446744073709551615"} {
		for _, u := range []string{csrPath + "/rv?resourceVersion=" + v, csrPath + "?resourceVersionMatch=NotOlderThan&resourceVersion=" + v} {
			wg.Go(func() {
				res := do(t, admin, "GET", srv.URL+u, "", nil)
				if res.code != http.StatusGatewayTimeout || !strings.Contains(res.status.Message, "Too large resource version") {
					t.Errorf("GET %s = %d %q, want 504 Too large resource version", u, res.code, res.status.Message)
				}
			})
		}
	}
	wg.Wait()
	// A watch from there is accepted and waits for events.
	oneSecond := int64(1)
	w, err := cs.Watch(t.Context(), metav1.ListOptions{ResourceVersion: "18446744073709551615", TimeoutSeconds: &oneSecond})
	if err != nil {
		t.Fatalf("watch from the largest uint64 resourceVersion: %v", err)
	}
	for ev := range w.ResultChan() {
		t.Errorf("watch from the largest uint64 resourceVersion sent %s", ev.Type)
	}
	// Out of uint64's range, negative or not a number: 400 everywhere.
	for _, v := range []string{"18446744073709551616", "-1", "1e3", "x"} {
		for _, u := range []string{csrPath + "/rv?resourceVersion=" + v, csrPath + "?resourceVersion=" + v, csrPath + "?watch=true&resourceVersion=" + v} {
			res := do(t, admin, "GET", srv.URL+u, "", nil)
			if res.code != http.StatusBadRequest || !strings.Contains(res.status.Message, "use a non-negative integer") {
				t.Errorf("GET %s = %d %q, want 400 naming a non-negative integer", u, res.code, res.status.Message)
			}
		}
	}
}
