package apiserver

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubepki/kubepki/internal/storage"
)

// healthCheckTimeout bounds the store check behind /healthz and /readyz:
// kube-apiserver's --etcd-healthcheck-timeout and --etcd-readycheck-timeout
// default, so that a probe with a short timeout sees a dead store as a
// failed check rather than as its own timeout.
const healthCheckTimeout = 2 * time.Second

func everything() labels.Selector       { return labels.Everything() }
func everythingFields() fields.Selector { return fields.Everything() }

// csrState is the metrics state of a CSR.
func csrState(csr *certv1.CertificateSigningRequest) string {
	c := conditionColumn(csr)
	switch {
	case strings.Contains(c, "Issued"):
		return "issued"
	case strings.Contains(c, "Failed"):
		return "failed"
	case strings.HasPrefix(c, "Denied"):
		return "denied"
	case strings.HasPrefix(c, "Approved"):
		return "approved"
	}
	return "pending"
}

type healthCheck struct {
	name  string
	check func(ctx context.Context) error
}

// healthChecks are the checks behind each health endpoint, as in
// kube-apiserver: /livez asks whether the process should be restarted
// (ping alone: a store outage is not cured by a restart), /readyz whether
// it should get traffic (the store, and not shutting down), and the
// older /healthz the store as well.
func (s *Server) healthChecks(endpoint string) []healthCheck {
	ping := healthCheck{name: "ping", check: func(context.Context) error { return nil }}
	store := healthCheck{name: "store", check: s.storeHealth}
	switch endpoint {
	case "livez":
		return []healthCheck{ping}
	case "healthz":
		return []healthCheck{ping, store}
	}
	return []healthCheck{ping, store, {name: "shutdown", check: func(context.Context) error {
		select {
		case <-s.stopping:
			return fmt.Errorf("the server is shutting down")
		default:
			return nil
		}
	}}}
}

// serveHealth answers /healthz, /livez and /readyz: "ok", or with
// ?verbose the list of checks; ?exclude=NAME (repeatable) skips a check.
// /ENDPOINT/NAME runs the one check NAME, and an unknown NAME is a 404.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	base, only, _ := strings.Cut(strings.Trim(r.URL.Path, "/"), "/")
	checks := s.healthChecks(base)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if only != "" {
		i := slices.IndexFunc(checks, func(c healthCheck) bool { return c.name == only })
		if i < 0 {
			s.writeError(w, r, errNoSuchPath())
			return
		}
		if s.runHealthCheck(r.Context(), base, checks[i]) != nil {
			http.Error(w, "internal server error: reason withheld", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	}
	q := r.URL.Query()
	excluded := map[string]bool{}
	for _, v := range q["exclude"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				excluded[name] = true
			}
		}
	}
	var b strings.Builder
	failed := false
	for _, c := range checks {
		if excluded[c.name] {
			delete(excluded, c.name)
			fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if s.runHealthCheck(r.Context(), base, c) != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.name)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	if len(excluded) > 0 {
		names := slices.Sorted(maps.Keys(excluded))
		for i, n := range names {
			names[i] = strconv.Quote(n)
		}
		fmt.Fprintf(&b, "warn: some health checks cannot be excluded: no matches for %s\n", strings.Join(names, ","))
	}
	_, verbose := q["verbose"]
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), base)
		return
	}
	if verbose {
		fmt.Fprintf(w, "%s%s check passed\n", b.String(), base)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// runHealthCheck runs c within healthCheckTimeout and logs a failure
// with its cause, which the answer withholds.
func (s *Server) runHealthCheck(ctx context.Context, endpoint string, c healthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	err := c.check(ctx)
	if err != nil {
		s.log.Warn("health check failed", "check", c.name, "endpoint", endpoint, "error", err.Error())
	}
	return err
}

func (s *Server) storeHealth(ctx context.Context) error {
	if h, ok := s.store.(storage.Healther); ok {
		return h.Health(ctx)
	}
	_, err := s.store.CurrentRevision(ctx)
	return err
}
