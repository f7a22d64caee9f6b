package apiserver_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// holder keeps requests in flight: each POST sends the start of a body
// that never ends, as a slowloris client does.
type holder struct {
	t     *testing.T
	c     *http.Client
	url   string
	mu    sync.Mutex
	pipes []*io.PipeWriter
	codes []chan int
}

func (h *holder) hold() {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(h.t.Context(), "POST", h.url, pr)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	go func() { _, _ = pw.Write([]byte("{")) }()
	code := make(chan int, 1)
	go func() {
		resp, err := h.c.Do(req)
		if err != nil {
			code <- 0
			return
		}
		resp.Body.Close()
		code <- resp.StatusCode
	}()
	h.mu.Lock()
	h.pipes, h.codes = append(h.pipes, pw), append(h.codes, code)
	h.mu.Unlock()
}

// refill starts a new request for each held one that was answered (a
// 429 when it met another request in the slot).
func (h *holder) refill() {
	h.mu.Lock()
	var ended int
	for i, c := range h.codes {
		select {
		case <-c:
			h.codes[i] = make(chan int) // never ready again
			ended++
		default:
		}
	}
	h.mu.Unlock()
	for range ended {
		h.hold()
	}
}

func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, pw := range h.pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	h.pipes = nil
}

// TestInFlightPerUserAndProbes: one user cannot hold more than its share
// of the in-flight budget, and health probes are answered even when the
// whole budget is held.
func TestInFlightPerUserAndProbes(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) {
		c.MaxInFlight = 4
		c.MaxInFlightPerUser = 2
	}})
	url := srv.URL + csrPath
	slow := &holder{t: t, c: httpClient(t, srv, "slow", "devs"), url: url}
	defer slow.release()
	slow.hold()
	slow.hold()
	other := httpClient(t, srv, "other", "system:masters")
	waitFor(t, "a 429 for the user's third request", func() bool {
		slow.refill()
		res := do(t, slow.c, "GET", srv.URL+"/apis/certificates.k8s.io/v1", "", nil)
		return res.code == http.StatusTooManyRequests && strings.Contains(res.status.Message, `user "slow" has 2 requests in flight`)
	})
	if res := do(t, other, "GET", url, "", nil); res.code != http.StatusOK {
		t.Errorf("another user's list while slow holds its share = %d %s", res.code, res.body)
	}

	// A second user holds the rest of the budget: now everyone waits,
	// but the probes still answer.
	slow2 := &holder{t: t, c: httpClient(t, srv, "slow2", "devs"), url: url}
	defer slow2.release()
	slow2.hold()
	slow2.hold()
	waitFor(t, "a 429 for everyone once the budget is held", func() bool {
		slow.refill()
		slow2.refill()
		res := do(t, other, "GET", srv.URL+"/apis/certificates.k8s.io/v1", "", nil)
		return res.code == http.StatusTooManyRequests && res.status.Reason == metav1.StatusReasonTooManyRequests &&
			strings.Contains(res.status.Message, "too many requests in flight")
	})
	anon := httpClient(t, srv, "")
	for _, c := range []*http.Client{other, anon, slow.c} {
		for _, p := range []string{"/livez", "/readyz", "/healthz"} {
			if res := do(t, c, "GET", srv.URL+p, "", nil); res.code != http.StatusOK {
				t.Errorf("%s with the budget held = %d %q, want 200", p, res.code, res.body)
			}
		}
	}
	if res := do(t, other, "GET", srv.URL+"/readyz/store", "", nil); res.code != http.StatusOK {
		t.Errorf("/readyz/store with the budget held = %d %q, want 200", res.code, res.body)
	}
	slow.release()
	slow2.release()
	waitFor(t, "service once released", func() bool {
		return do(t, other, "GET", url, "", nil).code == http.StatusOK
	})
}
