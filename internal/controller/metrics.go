package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are optional hooks the controllers call; any nil field is
// skipped. [NewPrometheusMetrics] fills them with Prometheus collectors.
type Metrics struct {
	// Signed is called after a certificate is stored, with the time spent
	// from reservation to stored certificate.
	Signed func(signer string, d time.Duration)
	// Failed is called when a CSR is marked Failed by signer policy.
	Failed func(signer string)
	// AutoApproved is called when a CSR is approved by the auto-approver.
	AutoApproved func(signer string)
	// Cleaned is called when the cleaner deletes a CSR, with the rule.
	Cleaned func(rule string)
}

// NewPrometheusMetrics registers the controllers' collectors on reg and
// returns hooks that update them:
// kubepki_controller_signing_duration_seconds{signer},
// kubepki_controller_certificates_issued_total{signer},
// kubepki_controller_csrs_failed_total{signer},
// kubepki_controller_csrs_auto_approved_total{signer} and
// kubepki_controller_csrs_cleaned_total{rule}.
func NewPrometheusMetrics(reg prometheus.Registerer) (*Metrics, error) {
	signing := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "kubepki", Subsystem: "controller", Name: "signing_duration_seconds",
		Help:    "Time from reserving a CSR to storing its certificate.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"signer"})
	issued := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kubepki", Subsystem: "controller", Name: "certificates_issued_total",
		Help: "Certificates issued and stored, by signer.",
	}, []string{"signer"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kubepki", Subsystem: "controller", Name: "csrs_failed_total",
		Help: "CSRs marked Failed by signer policy, by signer.",
	}, []string{"signer"})
	approved := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kubepki", Subsystem: "controller", Name: "csrs_auto_approved_total",
		Help: "CSRs approved by the auto-approver, by signer.",
	}, []string{"signer"})
	cleaned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kubepki", Subsystem: "controller", Name: "csrs_cleaned_total",
		Help: "CSRs deleted by the cleaner, by rule.",
	}, []string{"rule"})
	for _, c := range []prometheus.Collector{signing, issued, failed, approved, cleaned} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &Metrics{
		Signed: func(s string, d time.Duration) {
			signing.WithLabelValues(s).Observe(d.Seconds())
			issued.WithLabelValues(s).Inc()
		},
		Failed:       func(s string) { failed.WithLabelValues(s).Inc() },
		AutoApproved: func(s string) { approved.WithLabelValues(s).Inc() },
		Cleaned:      func(r string) { cleaned.WithLabelValues(r).Inc() },
	}, nil
}
