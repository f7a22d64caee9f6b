package apiserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestEventWatch: a watch of events (kubectl events -w) is a stream that
// stays open without events until its timeout, and counts against the
// user's watches.
func TestEventWatch(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) { c.MaxWatchesPerUser = 1 }})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)

	start := time.Now()
	res := do(t, admin, "GET", srv.URL+"/api/v1/namespaces/default/events?watch=true&timeoutSeconds=1", "", nil)
	if res.code != http.StatusOK || len(res.body) != 0 || res.header.Get("Content-Type") != "application/json" {
		t.Errorf("event watch = %d %q %q, want 200 with no events", res.code, res.header.Get("Content-Type"), res.body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("event watch ended after %v, before its 1 s timeout", d)
	}
	if res := do(t, admin, "GET", srv.URL+"/api/v1/events?watch=true&timeoutSeconds=abc", "", nil); res.code != http.StatusBadRequest {
		t.Errorf("event watch with a bad timeout = %d, want 400", res.code)
	}

	// One open watch is the limit here: a second gets 429.
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first event watch = %d", resp.StatusCode)
	}
	if res := do(t, admin, "GET", srv.URL+"/api/v1/events?watch=true", "", nil); res.code != http.StatusTooManyRequests {
		t.Errorf("second event watch = %d %s, want 429", res.code, res.body)
	}
	cancel()
	resp.Body.Close()

	// kubectl events -w lists, then watches until it is stopped (on a
	// server of its own, with the default watch limit).
	srv = apiservertest.Start(t, apiservertest.Options{})
	kubectl := newKubectl(t)
	kctx, kcancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer kcancel()
	var out, errOut bytes.Buffer
	c := kubectl.cmd(kctx, srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup), "events", "-w")
	c.Stdout, c.Stderr = &out, &errOut
	err = c.Run()
	if kctx.Err() == nil {
		t.Errorf("kubectl events -w ended by itself before 3 s: %v\nstdout %q\nstderr %q", err, out.String(), errOut.String())
	}
	if _, ok := errors.AsType[*exec.ExitError](err); !ok || strings.Contains(errOut.String(), "Error") {
		t.Errorf("kubectl events -w = %v, stderr %q; want it killed while watching", err, errOut.String())
	}
}

// TestEventsReadOnly: events are advertised with list and watch only, and
// the server records none. A GET of one event is NotFound, writes are 405
// MethodNotAllowed in kube-apiserver's words, and paths events do not
// have stay no such path.
func TestEventsReadOnly(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	user := httpClient(t, srv, "ursula", "devs")
	const ns = "/api/v1/namespaces/default/events"
	const body = `{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1","namespace":"default"},"reason":"R"}`
	const notAllowed = "the server does not allow this method on the requested resource"
	const noPath = "the server could not find the requested resource"
	for _, tc := range []struct {
		name        string
		client      *http.Client
		method      string
		path        string
		body        string
		wantCode    int
		wantReason  metav1.StatusReason
		wantMessage string
	}{
		{"list in a namespace", admin, "GET", ns, "", http.StatusOK, "", ""},
		{"list in all namespaces", admin, "GET", "/api/v1/events", "", http.StatusOK, "", ""},
		{"get one", admin, "GET", ns + "/e1", "", http.StatusNotFound, metav1.StatusReasonNotFound, `events "e1" not found`},
		{"create", admin, "POST", ns, body, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"create in all namespaces", admin, "POST", "/api/v1/events", body, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"update", admin, "PUT", ns + "/e1", body, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"patch", admin, "PATCH", ns + "/e1", `{}`, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"delete", admin, "DELETE", ns + "/e1", "", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"deletecollection", admin, "DELETE", ns, "", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, notAllowed},
		{"a subresource", admin, "GET", ns + "/e1/status", "", http.StatusNotFound, metav1.StatusReasonNotFound, noPath},
		{"a name without a namespace", admin, "GET", "/api/v1/events/e1", "", http.StatusNotFound, metav1.StatusReasonNotFound, noPath},
		{"another core resource", admin, "GET", "/api/v1/pods", "", http.StatusNotFound, metav1.StatusReasonNotFound, noPath},
		// Authorization comes first: the default policy grants events
		// to cluster-admin only.
		{"list by a plain user", user, "GET", ns, "", http.StatusForbidden, metav1.StatusReasonForbidden,
			`events is forbidden: User "ursula" cannot list resource "events" in API group "" in the namespace "default"`},
		{"create by a plain user", user, "POST", ns, body, http.StatusForbidden, metav1.StatusReasonForbidden,
			`events is forbidden: User "ursula" cannot create resource "events" in API group "" in the namespace "default"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, tc.client, tc.method, srv.URL+tc.path, "application/json", []byte(tc.body))
			if res.code != tc.wantCode || res.status.Reason != tc.wantReason || res.status.Message != tc.wantMessage {
				t.Errorf("%s %s = %d %s %q, want %d %s %q", tc.method, tc.path, res.code, res.status.Reason, res.status.Message,
					tc.wantCode, tc.wantReason, tc.wantMessage)
			}
			if res.code == http.StatusOK && !bytes.Contains(res.body, []byte(`"kind":"EventList"`)) {
				t.Errorf("%s %s = %s, want an EventList", tc.method, tc.path, res.body)
			}
		})
	}
}

// TestKubectlGetEvents: kubectl finds events in discovery (core v1) and
// gets, watches and refuses to write them as the server answers; RBAC
// decides who may list them.
func TestKubectlGetEvents(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	requests := newRequestCounter()
	srv := apiservertest.Start(t, apiservertest.Options{Logger: slog.New(requests)})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	user := srv.KubeconfigFor("ursula", "devs")

	for _, tc := range []struct {
		args    []string
		wantErr string // kubectl prints it on standard error
	}{
		{[]string{"get", "events"}, "No resources found in default namespace."},
		{[]string{"get", "ev", "-n", "kube-system"}, "No resources found in kube-system namespace."},
		{[]string{"get", "events", "-A"}, "No resources found"},
	} {
		if out, errOut, code := kubectl.run(admin, tc.args...); code != 0 || out != "" || strings.TrimSpace(errOut) != tc.wantErr {
			t.Errorf("kubectl %s = exit %d, %q, %q; want exit 0 and %q", strings.Join(tc.args, " "), code, out, errOut, tc.wantErr)
		}
	}
	if out := kubectl.ok(admin, "get", "events", "-o", "yaml"); !strings.Contains(out, "items: []") {
		t.Errorf("get events -o yaml = %q, want an empty list", out)
	}

	// A watch lists, then watches until the server ends it at the
	// request timeout, quietly: no events come.
	for _, tc := range []struct {
		args      []string
		watchPath string
	}{
		{[]string{"get", "events", "-w", "--request-timeout=2s"}, "/api/v1/namespaces/default/events"},
		{[]string{"get", "events", "-A", "-w", "--request-timeout=2s"}, "/api/v1/events"},
	} {
		start := time.Now()
		out, errOut, code := kubectl.run(admin, tc.args...)
		if code != 0 || out != "" || errOut != "" {
			t.Errorf("kubectl %s = exit %d, %q, %q; want exit 0 and no output", strings.Join(tc.args, " "), code, out, errOut)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("kubectl %s ended after %v, before its 2 s timeout", strings.Join(tc.args, " "), d)
		}
		if n := requests.count("watch", tc.watchPath); n != 1 {
			t.Errorf("kubectl %s: %d watches of %s, want 1", strings.Join(tc.args, " "), n, tc.watchPath)
		}
	}

	if _, errOut, code := kubectl.run(admin, "get", "events", "e1"); code != 1 || strings.TrimSpace(errOut) != `Error from server (NotFound): events "e1" not found` {
		t.Errorf("get events e1 = exit %d, %q; want NotFound", code, errOut)
	}
	event := filepath.Join(t.TempDir(), "event.yaml")
	if err := os.WriteFile(event, []byte("apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\n  namespace: default\n"+
		"involvedObject:\n  kind: CertificateSigningRequest\n  name: c1\nreason: Test\nmessage: m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"create", "-f", event}, {"apply", "-f", event}, {"delete", "events", "e1"}} {
		if _, errOut, code := kubectl.run(admin, args...); code != 1 ||
			!strings.Contains(errOut, "Error from server (MethodNotAllowed)") || !strings.Contains(errOut, "the server does not allow this method on the requested resource") {
			t.Errorf("kubectl %s = exit %d, %q; want MethodNotAllowed", strings.Join(args, " "), code, errOut)
		}
	}

	// The default policy leaves events to cluster-admin.
	if out := kubectl.ok(admin, "auth", "can-i", "watch", "events", "-A"); strings.TrimSpace(out) != "yes" {
		t.Errorf("admin can-i watch events -A = %q, want yes", out)
	}
	if out, _, code := kubectl.run(user, "auth", "can-i", "list", "events"); code != 1 || strings.TrimSpace(out) != "no" {
		t.Errorf("user can-i list events = exit %d, %q; want no", code, out)
	}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"get", "events"}, `Error from server (Forbidden): events is forbidden: User "ursula" cannot list resource "events" in API group "" in the namespace "default"`},
		{[]string{"get", "events", "-A"}, `Error from server (Forbidden): events is forbidden: User "ursula" cannot list resource "events" in API group "" at the cluster scope`},
	} {
		if _, errOut, code := kubectl.run(user, tc.args...); code != 1 || strings.TrimSpace(errOut) != tc.wantErr {
			t.Errorf("user kubectl %s = exit %d, %q; want %q", strings.Join(tc.args, " "), code, errOut, tc.wantErr)
		}
	}
}

// requestCounter is a slog.Handler that counts the server's debug
// "request" records by verb and path.
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newRequestCounter() *requestCounter { return &requestCounter{n: map[string]int{}} }

func (c *requestCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c *requestCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	var verb, path string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "verb":
			verb = a.Value.String()
		case "path":
			path = a.Value.String()
		}
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[verb+" "+path]++
	return nil
}

func (c *requestCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *requestCounter) WithGroup(string) slog.Handler      { return c }

// count reports how many requests with verb for path the server has
// finished.
func (c *requestCounter) count(verb, path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[verb+" "+path]
}
