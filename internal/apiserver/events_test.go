package apiserver_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

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
