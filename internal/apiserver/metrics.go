package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// csrCountCacheTTL bounds how often a scrape lists the store to count CSRs.
const csrCountCacheTTL = 15 * time.Second

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watchers prometheus.Gauge
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kubepki", Subsystem: "apiserver", Name: "requests_total",
			Help: "API requests by verb, resource and HTTP code.",
		}, []string{"verb", "resource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kubepki", Subsystem: "apiserver", Name: "request_duration_seconds",
			Help:    "API request latency by verb and resource (watches excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kubepki", Subsystem: "apiserver", Name: "watchers",
			Help: "Open watch streams.",
		}),
	}
	counts := &csrStateCollector{s: s, desc: prometheus.NewDesc("kubepki_certificatesigningrequests",
		"Stored CertificateSigningRequests by state (pending, approved, denied, failed, issued).", []string{"state"}, nil)}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.watchers, counts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register apiserver metrics: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

// knownVerbs and knownResources bound the label values: anything else a
// client sends is counted as "other", so that no request can add series.
var (
	knownVerbs = map[string]bool{"get": true, "list": true, "watch": true, "create": true, "update": true,
		"patch": true, "delete": true, "deletecollection": true, "head": true, "post": true, "put": true, "options": true}
	knownResources = map[string]bool{"": true, "certificatesigningrequests": true,
		"certificatesigningrequests/approval": true, "certificatesigningrequests/status": true,
		"selfsubjectreviews": true, "selfsubjectaccessreviews": true, "selfsubjectrulesreviews": true, "events": true}
)

func (m *metrics) observeRequest(verb, resource string, code int, elapsed time.Duration) {
	if !knownVerbs[verb] {
		verb = "other"
	}
	if !knownResources[resource] {
		resource = "other"
	}
	m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	if verb != "watch" {
		m.latency.WithLabelValues(verb, resource).Observe(elapsed.Seconds())
	}
}

// csrStateCollector counts stored CSRs by state at scrape time, cached.
type csrStateCollector struct {
	s    *Server
	desc *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[string]float64
}

func (c *csrStateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *csrStateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil || time.Since(c.at) > csrCountCacheTTL {
		counts, err := c.count()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		c.counts, c.at = counts, time.Now()
	}
	for _, state := range []string{"pending", "approved", "denied", "failed", "issued"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, c.counts[state], state)
	}
}

func (c *csrStateCollector) count() (map[string]float64, error) {
	// Prometheus collectors get no context; the scrape is bounded here.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts := map[string]float64{}
	cont := ""
	for first := true; first || cont != ""; first = false {
		page, err := c.s.list(ctx, selector{labels: everything(), fields: everythingFields()}, 0, cont)
		if err != nil {
			return nil, err
		}
		for i := range page.items {
			counts[csrState(&page.items[i])]++
		}
		cont = page.cont
	}
	return counts, nil
}
