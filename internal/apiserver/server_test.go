package apiserver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

func TestDiscoveryVersionOpenAPI(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	anon := httpClient(t, srv, "")

	res := do(t, admin, "GET", srv.URL+"/apis", "", nil, "Accept", aggregatedAccept)
	if ct := res.header.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
		t.Errorf("aggregated /apis Content-Type = %q", ct)
	}
	for _, want := range []string{`"shortNames":["csr"]`, `"responseKind":{"group":"certificates.k8s.io","version":"v1","kind":"CertificateSigningRequest"}`,
		`"subresource":"approval"`, `"subresource":"status"`, `"selfsubjectreviews"`, `"selfsubjectaccessreviews"`, `"selfsubjectrulesreviews"`} {
		if !bytes.Contains(res.body, []byte(want)) {
			t.Errorf("aggregated /apis lacks %s: %s", want, res.body)
		}
	}
	// The core group: v1 with events only, in every discovery form, so
	// that kubectl maps the kind v1 List and client-go caches it.
	res = do(t, admin, "GET", srv.URL+"/api", "", nil, "Accept", aggregatedAccept)
	if ct := res.header.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
		t.Errorf("aggregated /api Content-Type = %q", ct)
	}
	var core apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(res.body, &core); err != nil {
		t.Fatalf("aggregated /api = %s: %v", res.body, err)
	}
	wantCore := []apidiscoveryv2.APIGroupDiscovery{{Versions: []apidiscoveryv2.APIVersionDiscovery{{
		Version: "v1", Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
		Resources: []apidiscoveryv2.APIResourceDiscovery{{
			Resource: "events", SingularResource: "event", Scope: apidiscoveryv2.ScopeNamespace,
			ResponseKind: &metav1.GroupVersionKind{Version: "v1", Kind: "Event"},
			ShortNames:   []string{"ev"}, Verbs: []string{"list", "watch"},
		}},
	}}}}
	if diff := cmp.Diff(wantCore, core.Items); core.Kind != "APIGroupDiscoveryList" || diff != "" {
		t.Errorf("aggregated /api kind %q, items (-want +got):\n%s", core.Kind, diff)
	}
	res = do(t, admin, "GET", srv.URL+"/api", "", nil)
	var versions metav1.APIVersions
	if err := json.Unmarshal(res.body, &versions); err != nil || versions.Kind != "APIVersions" || !slices.Equal(versions.Versions, []string{"v1"}) {
		t.Errorf("legacy /api = %s (%v), want APIVersions [v1]", res.body, err)
	}
	res = do(t, admin, "GET", srv.URL+"/api/v1", "", nil)
	var coreResources metav1.APIResourceList
	if err := json.Unmarshal(res.body, &coreResources); err != nil {
		t.Fatalf("/api/v1 = %s: %v", res.body, err)
	}
	wantResources := metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{{Name: "events", SingularName: "event", Namespaced: true, Kind: "Event",
			ShortNames: []string{"ev"}, Verbs: metav1.Verbs{"list", "watch"}}},
	}
	if diff := cmp.Diff(wantResources, coreResources); diff != "" {
		t.Errorf("/api/v1 (-want +got):\n%s", diff)
	}
	res = do(t, admin, "GET", srv.URL+"/apis", "", nil)
	if !bytes.Contains(res.body, []byte(`"kind":"APIGroupList"`)) || res.header.Get("Content-Type") != "application/json" {
		t.Errorf("legacy /apis = %s %s", res.header.Get("Content-Type"), res.body)
	}
	res = do(t, admin, "GET", srv.URL+"/apis/certificates.k8s.io/v1", "", nil)
	if !bytes.Contains(res.body, []byte(`"name":"certificatesigningrequests/approval"`)) || !bytes.Contains(res.body, []byte(`"kind":"APIResourceList"`)) {
		t.Errorf("/apis/certificates.k8s.io/v1 = %s", res.body)
	}
	res = do(t, admin, "GET", srv.URL+"/apis/certificates.k8s.io", "", nil)
	if !bytes.Contains(res.body, []byte(`"kind":"APIGroup"`)) {
		t.Errorf("/apis/certificates.k8s.io = %s", res.body)
	}
	if res := do(t, anon, "GET", srv.URL+"/apis", "", nil); res.code != http.StatusUnauthorized {
		t.Errorf("anonymous /apis = %d, want 401", res.code)
	}

	res = do(t, anon, "GET", srv.URL+"/version?timeout=5s", "", nil)
	var v struct{ Major, Minor, GitVersion string }
	if err := json.Unmarshal(res.body, &v); err != nil || v.Major != "1" || v.Minor != "32" {
		t.Errorf("/version = %s (%v), want major 1 minor 32", res.body, err)
	}
	if _, err := version.ParseSemantic(v.GitVersion); err != nil || !strings.HasPrefix(v.GitVersion, "v1.32.") {
		t.Errorf("gitVersion %q: %v", v.GitVersion, err)
	}

	res = do(t, admin, "GET", srv.URL+"/openapi/v3", "", nil)
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &root); err != nil {
		t.Fatal(err)
	}
	u := root.Paths["apis/certificates.k8s.io/v1"].ServerRelativeURL
	if u == "" {
		t.Fatalf("/openapi/v3 = %s, want the certificates group", res.body)
	}
	res = do(t, admin, "GET", srv.URL+u, "", nil)
	var doc map[string]any
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	patch := doc["paths"].(map[string]any)["/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"].(map[string]any)["patch"].(map[string]any)
	if !strings.Contains(string(mustJSON(t, patch["parameters"])), `"fieldValidation"`) || patch["x-kubernetes-group-version-kind"] == nil {
		t.Errorf("PATCH operation = %v, want fieldValidation and the GVK", patch)
	}
	if !strings.Contains(res.header.Get("Cache-Control"), "immutable") {
		t.Errorf("hashed OpenAPI Cache-Control = %q", res.header.Get("Cache-Control"))
	}
	if res := do(t, admin, "GET", srv.URL+"/openapi/v2", "", nil); res.code != http.StatusOK || !bytes.Contains(res.body, []byte(`"swagger":"2.0"`)) {
		t.Errorf("/openapi/v2 = %d %.100s, want the Swagger 2.0 document", res.code, res.body)
	}
	if res := do(t, admin, "GET", srv.URL+"/api/v1/events?limit=500", "", nil); res.code != http.StatusOK || !bytes.Contains(res.body, []byte(`"EventList"`)) {
		t.Errorf("/api/v1/events = %d %s", res.code, res.body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResponseFormats(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := cs.Create(t.Context(), newCSR(t, "fmt", "fmt"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + csrPath + "/fmt"
	res := do(t, admin, "GET", url, "", nil, "Accept", "application/yaml")
	var y map[string]any
	if err := yaml.Unmarshal(res.body, &y); err != nil || y["kind"] != "CertificateSigningRequest" || res.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("YAML answer = %s %q (%v)", res.header.Get("Content-Type"), res.body, err)
	}
	res = do(t, admin, "GET", url, "", nil, "Accept", "application/vnd.kubernetes.protobuf")
	if !bytes.HasPrefix(res.body, []byte("k8s\x00")) || res.header.Get("Content-Type") != "application/vnd.kubernetes.protobuf" {
		t.Errorf("protobuf answer = %s %q", res.header.Get("Content-Type"), res.body[:min(len(res.body), 16)])
	}
	res = do(t, admin, "GET", srv.URL+csrPath, "", nil, "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	var tbl metav1.Table
	if err := json.Unmarshal(res.body, &tbl); err != nil || len(tbl.ColumnDefinitions) != 6 || len(tbl.Rows) != 1 || tbl.ColumnDefinitions[0].Format != "name" {
		t.Errorf("Table = %s (%v)", res.body, err)
	}
	if !bytes.Contains(res.body, []byte(`"kind":"PartialObjectMetadata"`)) {
		t.Errorf("Table rows lack PartialObjectMetadata: %s", res.body)
	}
	// A Warn-mode create names the unknown field in a Warning header.
	body := bytes.Replace(csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Name = "warned" }), []byte(`"usages"`), []byte(`"usagez":1,"usages"`), 1)
	res = do(t, admin, "POST", srv.URL+csrPath+"?fieldValidation=Warn", "application/json", body)
	if res.code != http.StatusCreated || !strings.Contains(res.header.Get("Warning"), `unknown field \"spec.usagez\"`) {
		t.Errorf("Warn create = %d, Warning %q", res.code, res.header.Get("Warning"))
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	anon := httpClient(t, srv, "")
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		res := do(t, anon, "GET", srv.URL+p, "", nil)
		if res.code != http.StatusOK || string(res.body) != "ok" || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s = %d %q %q, want 200 ok", p, res.code, res.body, res.header.Get("Content-Type"))
		}
	}
	res := do(t, anon, "GET", srv.URL+"/readyz?verbose", "", nil)
	if !strings.Contains(string(res.body), "[+]store ok") || !strings.Contains(string(res.body), "readyz check passed") {
		t.Errorf("/readyz?verbose = %q", res.body)
	}
	for _, tc := range []struct {
		path string
		code int
		body []string // in the answer, in order
	}{
		{"/healthz?verbose", 200, []string{"[+]ping ok\n[+]store ok\nhealthz check passed\n"}},
		{"/livez?verbose", 200, []string{"[+]ping ok\nlivez check passed\n"}},
		{"/readyz?verbose", 200, []string{"[+]ping ok\n[+]store ok\n[+]shutdown ok\nreadyz check passed\n"}},
		{"/readyz?verbose&exclude=store", 200, []string{"[+]ping ok\n[+]store excluded: ok\n[+]shutdown ok\nreadyz check passed\n"}},
		{"/readyz?verbose&exclude=store,nope&exclude=etcd", 200, []string{"[+]store excluded: ok\n",
			"warn: some health checks cannot be excluded: no matches for \"etcd\",\"nope\"\nreadyz check passed\n"}},
		{"/readyz?exclude=store", 200, []string{"ok"}},
		{"/readyz/store", 200, []string{"ok"}},
		{"/healthz/store", 200, []string{"ok"}},
		{"/readyz/nope", 404, []string{"the server could not find the requested resource"}},
		{"/readyz/store/x", 404, []string{"the server could not find the requested resource"}},
		{"/healthz/etcd", 404, []string{"the server could not find the requested resource"}},
		{"/livez/store", 404, []string{"the server could not find the requested resource"}},
	} {
		res := do(t, admin, "GET", srv.URL+tc.path, "", nil)
		body := string(res.body)
		ok := res.code == tc.code
		for _, want := range tc.body {
			i := strings.Index(body, want)
			ok = ok && i >= 0
			if i >= 0 {
				body = body[i+len(want):]
			}
		}
		if !ok {
			t.Errorf("GET %s = %d %q, want %d with %q", tc.path, res.code, res.body, tc.code, tc.body)
		}
	}
	// Only the exact paths are public (system:public-info-viewer); a
	// single check needs system:monitoring's /healthz/* and the like.
	plain := httpClient(t, srv, "plain", "devs")
	for _, p := range []string{"/healthz/ping", "/livez/ping", "/readyz/store"} {
		if res := do(t, anon, "GET", srv.URL+p, "", nil); res.code != http.StatusUnauthorized {
			t.Errorf("anonymous %s = %d, want 401", p, res.code)
		}
		if res := do(t, plain, "GET", srv.URL+p, "", nil); res.code != http.StatusForbidden {
			t.Errorf("plain user %s = %d, want 403", p, res.code)
		}
		if res := do(t, admin, "GET", srv.URL+p, "", nil); res.code != http.StatusOK {
			t.Errorf("admin %s = %d %q, want 200", p, res.code, res.body)
		}
	}
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := cs.Create(t.Context(), newCSR(t, "m", "m"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := do(t, anon, "GET", srv.URL+"/metrics", "", nil); res.code != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics = %d, want 401", res.code)
	}
	res = do(t, admin, "GET", srv.URL+"/metrics", "", nil)
	for _, want := range []string{
		`kubepki_apiserver_requests_total{code="201",resource="certificatesigningrequests",verb="create"} 1`,
		`kubepki_apiserver_request_duration_seconds_bucket{resource="certificatesigningrequests",verb="create"`,
		`kubepki_certificatesigningrequests{state="pending"} 1`,
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// lockedWriter collects log output from concurrent handlers.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) lines() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(w.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestAuditLine(t *testing.T) {
	t.Parallel()
	var logs lockedWriter
	srv := apiservertest.Start(t, apiservertest.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cs := srv.Clientset("auditee", "devs").CertificatesV1().CertificateSigningRequests()
	c := newCSR(t, "", "auditee")
	c.GenerateName = "audit-"
	created, err := cs.Create(t.Context(), c, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Delete(t.Context(), created.Name, metav1.DeleteOptions{}); err == nil {
		t.Error("auditee deleted a CSR, want Forbidden")
	}
	// A refused create names the CSR it asked for.
	bad := newCSR(t, "audit-refused", "auditee")
	bad.Spec.Usages = []certv1.KeyUsage{"no such usage"}
	if _, err := cs.Create(t.Context(), bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("create with an unknown usage = %v, want 422", err)
	}
	// An oversized body is audited under its sender.
	if res := do(t, httpClient(t, srv, "auditee", "devs"), "POST", srv.URL+csrPath, "application/json", bytes.Repeat([]byte("a"), 6<<20)); res.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("6 MB create = %d, want 413", res.code)
	}
	var create, deny, refused, tooLarge bool
	waitFor(t, "the audit lines", func() bool {
		for _, l := range logs.lines() {
			if l["msg"] != "audit" || l["user"] != "auditee" {
				continue
			}
			create = create || (l["verb"] == "create" && l["name"] == created.Name && l["code"] == float64(201) && l["outcome"] == "allowed")
			deny = deny || (l["verb"] == "delete" && l["code"] == float64(403) && l["outcome"] == "denied")
			refused = refused || (l["verb"] == "create" && l["name"] == "audit-refused" && l["code"] == float64(422) && l["outcome"] == "failed")
			tooLarge = tooLarge || (l["verb"] == "create" && l["code"] == float64(413) && l["outcome"] == "failed")
		}
		return create && deny && refused && tooLarge
	})
}

// TestAuditLineNamesDecision checks that the audit line of an approval
// says which condition it added, so that the log tells an approval from
// a denial whatever the client (kubectl's Kubectl-Command header is only
// a client's claim).
func TestAuditLineNamesDecision(t *testing.T) {
	t.Parallel()
	var logs lockedWriter
	srv := apiservertest.Start(t, apiservertest.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cs := kubernetes.NewForConfigOrDie(srv.AdminConfig()).CertificatesV1().CertificateSigningRequests()
	decisions := map[string]certv1.RequestConditionType{"audit-approve": certv1.CertificateApproved, "audit-deny": certv1.CertificateDenied}
	want := map[string]string{"audit-approve": "[Approved]", "audit-deny": "[Denied]"}
	for name, cond := range decisions {
		created, err := cs.Create(t.Context(), newCSR(t, name, "someone"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Conditions = append(created.Status.Conditions, certv1.CertificateSigningRequestCondition{
			Type: cond, Status: corev1.ConditionTrue, Reason: "Test"})
		if _, err := cs.UpdateApproval(t.Context(), name, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("%s %s: %v", cond, name, err)
		}
	}
	got := map[string]string{}
	waitFor(t, "the approval audit lines", func() bool {
		for _, l := range logs.lines() {
			if l["msg"] != "audit" || l["resource"] != "certificatesigningrequests/approval" {
				continue
			}
			name, _ := l["name"].(string)
			got[name] = fmt.Sprint(l["conditionsAdded"])
		}
		return len(got) == len(want)
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conditions added in the approval audit lines (-want +got):\n%s", diff)
	}
}

func TestLoopbackConfig(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs, err := kubernetes.NewForConfig(srv.API.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("loopback whoami: %v", err)
	}
	if r.Status.UserInfo.Username != apiserver.UserKubeControllerManager {
		t.Errorf("loopback user = %q, want %s", r.Status.UserInfo.Username, apiserver.UserKubeControllerManager)
	}
	// The public listener gives the same request no identity.
	if res := do(t, httpClient(t, srv, ""), "POST", srv.URL+"/apis/authentication.k8s.io/v1/selfsubjectreviews", "application/json",
		[]byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)); res.code != http.StatusUnauthorized {
		t.Errorf("anonymous whoami over TLS = %d, want 401", res.code)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) {
		c.MaxInFlight = 1
		c.MaxWatchesPerUser = 1
	}})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)

	// One watch per user: the second is 429, another user's is fine.
	w := openWatch(t, admin, srv.URL+csrPath+"?watch=true")
	_ = w
	res := do(t, admin, "GET", srv.URL+csrPath+"?watch=true&timeoutSeconds=1", "", nil)
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("second watch = %d (Retry-After %q), want 429", res.code, res.header.Get("Retry-After"))
	}
	other := httpClient(t, srv, "other", "system:masters")
	openWatch(t, other, srv.URL+csrPath+"?watch=true&timeoutSeconds=5")

	// Hold the only in-flight slot with a request whose body never ends. A
	// held request that itself met a probe in the slot got a 429; start
	// another then.
	var pipes []*io.PipeWriter
	defer func() {
		for _, pw := range pipes {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	hold := func() <-chan int {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+csrPath, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		go func() { _, _ = pw.Write([]byte("{")) }() // the body starts, and never ends
		code := make(chan int, 1)
		go func() {
			resp, err := admin.Do(req)
			if err != nil {
				code <- 0
				return
			}
			resp.Body.Close()
			code <- resp.StatusCode
		}()
		return code
	}
	held := hold()
	waitFor(t, "a 429 while the slot is held", func() bool {
		select {
		case <-held:
			held = hold()
		default:
		}
		res := do(t, admin, "GET", srv.URL+"/apis/certificates.k8s.io/v1", "", nil)
		return res.code == http.StatusTooManyRequests && res.status.Reason == metav1.StatusReasonTooManyRequests
	})
	for _, pw := range pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	pipes = nil
	waitFor(t, "service after the slot is freed", func() bool {
		return do(t, admin, "GET", srv.URL+"/apis/certificates.k8s.io/v1", "", nil).code == http.StatusOK
	})
}

func TestTLSPolicy(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	addr := strings.TrimPrefix(srv.URL, "https://")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs = pool
		d := &net.Dialer{Timeout: 10 * time.Second}
		return tls.DialWithDialer(d, "tcp", addr, cfg)
	}
	if c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded, want refused")
	}
	if c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}); err == nil {
		c.Close()
		t.Error("TLS 1.2 without ECDHE succeeded, want refused")
	}
	c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.2 ECDHE: %v", err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("ALPN = %q, want h2", p)
	}
}

func TestGzipLargeLists(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i := range 150 {
		c := newCSR(t, "gz-"+strconv.Itoa(i), "gz")
		c.Annotations = map[string]string{"pad": strings.Repeat("p", 1024)}
		if _, err := cs.Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, admin, "GET", srv.URL+csrPath, "", nil, "Accept-Encoding", "gzip")
	if res.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large list Content-Encoding = %q, want gzip", res.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Contains(plain, []byte(`"gz-149"`)) {
		t.Errorf("gunzipped list: %v, %d bytes", err, len(plain))
	}
	// client-go decodes it transparently.
	list, err := cs.List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 150 {
		t.Errorf("client-go list = %d items, %v", len(list.Items), err)
	}
	// Small answers stay plain.
	if res := do(t, admin, "GET", srv.URL+csrPath+"/gz-1", "", nil, "Accept-Encoding", "gzip"); res.header.Get("Content-Encoding") != "" {
		t.Errorf("small answer Content-Encoding = %q, want none", res.header.Get("Content-Encoding"))
	}
}

// fullStore is a real bbolt store whose disk is full once full is set:
// writes fail as bolt's commit then fails, reads go on.
type fullStore struct {
	*bolt.Store
	full atomic.Bool
}

func (s *fullStore) err() error {
	return fmt.Errorf("commit to kubepki.db: the disk is full (write kubepki.db: %w): %w", syscall.ENOSPC, storage.ErrNoSpace)
}

func (s *fullStore) Create(ctx context.Context, key string, value []byte) (int64, error) {
	if s.full.Load() {
		return 0, s.err()
	}
	return s.Store.Create(ctx, key, value)
}

func (s *fullStore) Update(ctx context.Context, key string, rev int64, value []byte) (int64, error) {
	if s.full.Load() {
		return 0, s.err()
	}
	return s.Store.Update(ctx, key, rev, value)
}

// TestStoreOutOfSpace: a full disk fails writes at once with a 500 that
// says so (a 503 would have clients retry every second for nothing),
// keeps reads working, logs the errno, and writes work again once space
// is back, without a restart.
func TestStoreOutOfSpace(t *testing.T) {
	t.Parallel()
	store := &fullStore{Store: openBolt(t, bolt.Options{})}
	var logs lockedWriter
	srv := apiservertest.Start(t, apiservertest.Options{Store: store, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	ctx := t.Context()
	if _, err := cs.Create(ctx, newCSR(t, "before", "alice"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	store.full.Store(true)
	_, err := cs.Create(ctx, newCSR(t, "while-full", "alice"), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("create on a full disk = %v, want 500 saying the store has no space left", err)
	}
	if strings.Contains(fmt.Sprint(err), "kubepki.db") {
		t.Errorf("create on a full disk = %v: the store's file reaches the client", err)
	}
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, admin, "POST", srv.URL+csrPath, "application/json", csrJSON(t, nil))
	if res.code != http.StatusInternalServerError || res.header.Get("Retry-After") != "" {
		t.Errorf("raw create on a full disk = %d, Retry-After %q; want 500 without Retry-After", res.code, res.header.Get("Retry-After"))
	}
	if _, err := cs.Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("get on a full disk: %v", err)
	}
	creates := 0
	var faults []map[string]any
	waitFor(t, "the audit and log lines", func() bool {
		creates, faults = 0, nil
		for _, l := range logs.lines() {
			switch {
			case l["msg"] == "audit" && l["verb"] == "create" && l["code"] == float64(500):
				creates++
			case l["msg"] == "store out of space":
				faults = append(faults, l)
			}
		}
		return creates >= 2 && len(faults) >= 1
	})
	if creates != 2 {
		t.Errorf("%d failed creates reached the server for 2 sent: a client retried", creates)
	}
	if len(faults) != 1 || faults[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(faults[0]["error"]), "no space left on device") {
		t.Errorf("log lines %v, want one ERROR with the errno", faults)
	}
	store.full.Store(false)
	if _, err := cs.Create(ctx, newCSR(t, "after", "alice"), metav1.CreateOptions{}); err != nil {
		t.Errorf("create once space is back: %v", err)
	}
}

// slowStore is a real bbolt store whose reads of one key wait until the
// request gives up.
// It records the time each such read had left.
type slowStore struct {
	*bolt.Store
	slowKey string
	left    chan time.Duration
}

func (s *slowStore) Get(ctx context.Context, key string) (storage.KV, error) {
	if strings.HasSuffix(key, s.slowKey) {
		deadline, _ := ctx.Deadline()
		s.left <- time.Until(deadline)
		<-ctx.Done()
		return storage.KV{}, ctx.Err()
	}
	return s.Store.Get(ctx, key)
}

// TestRequestTimeout: a request that outlives its deadline, the server's
// or the shorter one of the timeout parameter, ends with 504 Timeout (not
// the 503 of a store that cannot answer), over HTTPS and in-process; a
// timeout that is no duration is a 400.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	bs := openBolt(t, bolt.Options{})
	var logs lockedWriter
	slow := &slowStore{Store: bs, slowKey: "/slow", left: make(chan time.Duration, 1)}
	const limit = time.Second
	srv := apiservertest.Start(t, apiservertest.Options{Store: slow,
		Logger:    slog.New(slog.NewJSONHandler(&logs, nil)),
		Configure: func(c *apiserver.Config) { c.RequestTimeout = limit }})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	for _, tc := range []struct {
		query  string
		code   int
		reason metav1.StatusReason
		// the deadline the store saw: at most atMost ahead, more than
		// atLeast (0: the request never reached the store)
		atLeast, atMost time.Duration
	}{
		{"", http.StatusGatewayTimeout, metav1.StatusReasonTimeout, 100 * time.Millisecond, limit},
		{"?timeout=100ms", http.StatusGatewayTimeout, metav1.StatusReasonTimeout, 0, 100 * time.Millisecond},
		{"?timeout=10m", http.StatusGatewayTimeout, metav1.StatusReasonTimeout, 100 * time.Millisecond, limit}, // capped by the server
		{"?timeout=0s", http.StatusGatewayTimeout, metav1.StatusReasonTimeout, 100 * time.Millisecond, limit},  // none of the client's own
		{"?timeout=soon", http.StatusBadRequest, metav1.StatusReasonBadRequest, 0, 0},
	} {
		res := do(t, admin, "GET", srv.URL+csrPath+"/slow"+tc.query, "", nil)
		if res.code != tc.code || res.status.Reason != tc.reason {
			t.Errorf("GET slow%s = %d %s, want %d %s; %s", tc.query, res.code, res.status.Reason, tc.code, tc.reason, res.body)
		}
		select {
		case left := <-slow.left:
			if tc.atMost == 0 || left > tc.atMost || left <= tc.atLeast {
				t.Errorf("GET slow%s: the store read had %v left, want more than %v and at most %v", tc.query, left, tc.atLeast, tc.atMost)
			}
		default:
			if tc.atMost != 0 {
				t.Errorf("GET slow%s never reached the store", tc.query)
			}
		}
	}
	if res := do(t, admin, "GET", srv.URL+csrPath+"/fast?timeout=32s", "", nil); res.code != http.StatusNotFound {
		t.Errorf("GET fast?timeout=32s = %d, want 404", res.code)
	}
	local, err := srv.API.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Get(t.Context(), "slow", metav1.GetOptions{}); !apierrors.IsTimeout(err) {
		t.Errorf("in-process get past the deadline = %v, want 504 Timeout", err)
	}
	<-slow.left
	for _, l := range logs.lines() {
		if l["msg"] == "store unavailable" {
			t.Errorf("a request timeout was logged as a store fault: %v", l)
		}
	}
}

func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedWriter
	var clock atomic.Int64 // added to the real time, so certificates stay valid
	srv := apiservertest.Start(t, apiservertest.Options{Store: store,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Configure: func(c *apiserver.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(clock.Load())) }
		}})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	if res := do(t, admin, "GET", srv.URL+"/readyz", "", nil); res.code != http.StatusOK {
		t.Fatalf("/readyz before = %d", res.code)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	res := do(t, admin, "GET", srv.URL+csrPath, "", nil)
	if res.code != http.StatusServiceUnavailable || res.status.Reason != metav1.StatusReasonServiceUnavailable {
		t.Errorf("list on a closed store = %d %s, want 503", res.code, res.status.Reason)
	}
	res = do(t, admin, "POST", srv.URL+csrPath, "application/json", csrJSON(t, nil))
	if res.code != http.StatusServiceUnavailable {
		t.Errorf("create on a closed store = %d, want 503", res.code)
	}
	if strings.Contains(string(res.body), "closed") {
		t.Errorf("503 body %q tells the client the store's own error", res.body)
	}
	// The log says why, once per interval, and counts what it left out.
	unavailable := func() []map[string]any {
		var out []map[string]any
		for _, l := range logs.lines() {
			if l["msg"] == "store unavailable" {
				out = append(out, l)
			}
		}
		return out
	}
	if got := unavailable(); len(got) != 1 || got[0]["level"] != "WARN" ||
		!strings.Contains(fmt.Sprint(got[0]["error"]), "bolt store closed") || got[0]["notLoggedSinceLast"] != float64(0) {
		t.Errorf("after two 503s, log lines %v, want one WARN naming the closed store", got)
	}
	clock.Store(int64(11 * time.Second))
	if res := do(t, admin, "GET", srv.URL+csrPath+"/any", "", nil); res.code != http.StatusServiceUnavailable {
		t.Errorf("get on a closed store = %d, want 503", res.code)
	}
	if got := unavailable(); len(got) != 2 || got[1]["notLoggedSinceLast"] != float64(1) || got[1]["path"] != csrPath+"/any" {
		t.Errorf("11 s later, log lines %v, want a second one counting the create left out", got)
	}
	res = do(t, admin, "GET", srv.URL+"/readyz?verbose", "", nil)
	if res.code != http.StatusInternalServerError || !strings.Contains(string(res.body), "[-]store failed") {
		t.Errorf("/readyz on a closed store = %d %q, want 500 naming the store", res.code, res.body)
	}
	if res := do(t, admin, "GET", srv.URL+"/livez", "", nil); res.code != http.StatusOK {
		t.Errorf("/livez on a closed store = %d, want 200 (the process lives)", res.code)
	}
	for _, p := range []string{"/healthz", "/readyz/store", "/healthz/store"} {
		if res := do(t, admin, "GET", srv.URL+p, "", nil); res.code != http.StatusInternalServerError || !strings.Contains(string(res.body), "reason withheld") {
			t.Errorf("%s on a closed store = %d %q, want 500 with the cause withheld", p, res.code, res.body)
		}
	}
	if res := do(t, admin, "GET", srv.URL+"/readyz?exclude=store", "", nil); res.code != http.StatusOK {
		t.Errorf("/readyz?exclude=store on a closed store = %d %q, want 200", res.code, res.body)
	}
}

// TestPretty: JSON answers are indented for pretty=true or 1, and for curl
// and Wget unless pretty says otherwise, as kube-apiserver does; watch
// events stay one per line.
func TestPretty(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	if res := do(t, admin, "POST", srv.URL+csrPath, "application/json", csrJSON(t, func(c *certv1.CertificateSigningRequest) { c.Name = "pretty" })); res.code != http.StatusCreated {
		t.Fatalf("create = %d %s", res.code, res.body)
	}
	for _, tc := range []struct {
		query, userAgent string
		pretty           bool
	}{
		{"", "kubectl/v1.32.4", false},
		{"?pretty=true", "kubectl/v1.32.4", true},
		{"?pretty=1", "", true},
		{"", "curl/8.5.0", true},
		{"", "Wget/1.21", true},
		{"?pretty=false", "curl/8.5.0", false},
		{"?pretty=0", "curl/8.5.0", false},
	} {
		for _, path := range []string{csrPath + "/pretty", csrPath, "/version"} {
			res := do(t, admin, "GET", srv.URL+path+tc.query, "", nil, "User-Agent", tc.userAgent)
			indented := bytes.HasPrefix(res.body, []byte("{\n  \""))
			if res.code != http.StatusOK || indented != tc.pretty || !json.Valid(res.body) {
				t.Errorf("GET %s%s as %q: %d, indented %v, want %v; %.80q", path, tc.query, tc.userAgent, res.code, indented, tc.pretty, res.body)
			}
		}
	}
	// YAML has no pretty form; it is asked for and answered as usual.
	if res := do(t, admin, "GET", srv.URL+csrPath+"/pretty?pretty=true", "", nil, "Accept", "application/yaml"); res.code != http.StatusOK || !bytes.HasPrefix(res.body, []byte("apiVersion:")) {
		t.Errorf("YAML with pretty=true: %d %.80q", res.code, res.body)
	}
	res := do(t, admin, "GET", srv.URL+csrPath+"?watch=true&resourceVersion=0&timeoutSeconds=1&pretty=true", "", nil, "User-Agent", "curl/8.5.0")
	lines := bytes.Split(bytes.TrimSpace(res.body), []byte("\n"))
	if res.code != http.StatusOK || len(lines) != 1 || !json.Valid(lines[0]) {
		t.Errorf("watch with pretty=true from curl: %d, %d lines, want one event on one line: %.200q", res.code, len(lines), res.body)
	}
}
