package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubepki/kubepki/internal/storage"
)

// healthCheckTimeout bounds the store check behind /readyz.
const healthCheckTimeout = 5 * time.Second

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

// serveHealth answers /healthz, /livez (ready=false) and /readyz: "ok", or
// with ?verbose the list of checks.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, ready bool) {
	checks := []healthCheck{{name: "ping", check: func(context.Context) error { return nil }}}
	if ready {
		checks = append(checks,
			healthCheck{name: "store", check: s.storeHealth},
			healthCheck{name: "shutdown", check: func(context.Context) error {
				select {
				case <-s.stopping:
					return fmt.Errorf("the server is shutting down")
				default:
					return nil
				}
			}})
	}
	endpoint := strings.Trim(r.URL.Path, "/")
	base, only, _ := strings.Cut(endpoint, "/")
	var b strings.Builder
	failed := false
	for _, c := range checks {
		if only != "" && c.name != only {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
		err := c.check(ctx)
		cancel()
		if err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.name)
			s.log.Warn("health check failed", "check", c.name, "endpoint", base, "error", err.Error())
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	_, verbose := r.URL.Query()["verbose"]
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
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

func (s *Server) storeHealth(ctx context.Context) error {
	if h, ok := s.store.(storage.Healther); ok {
		return h.Health(ctx)
	}
	_, err := s.store.CurrentRevision(ctx)
	return err
}
