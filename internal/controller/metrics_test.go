package controller_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
)

// TestMetricsAndLogHygiene issues and fails a CSR with debug logging on,
// checks the counters, and scans every log line for the CA key.
func TestMetricsAndLogHygiene(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	metrics, err := controller.NewPrometheusMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controller.NewPrometheusMetrics(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	rec := newRecorder()
	startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec), Metrics: metrics})

	in, _ := userCSR(t, "m-ok")
	create(t, e.admin, in)
	approve(t, e.admin, "m-ok")
	waitIssued(t, e.admin, "m-ok")
	bad, _ := userCSR(t, "m-bad")
	bad.Spec.Usages = append(bad.Spec.Usages, "server auth")
	create(t, e.admin, bad)
	approve(t, e.admin, "m-bad")

	counter := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			sum := 0.0
			for _, m := range mf.GetMetric() {
				switch {
				case m.GetCounter() != nil:
					sum += m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					sum += float64(m.GetHistogram().GetSampleCount())
				}
			}
			return sum
		}
		return 0
	}
	if !eventually(func() bool { return counter("kubepki_controller_csrs_failed_total") == 1 }) {
		t.Errorf("csrs_failed_total = %v, want 1", counter("kubepki_controller_csrs_failed_total"))
	}
	eventually(func() bool { return counter("kubepki_controller_certificates_issued_total") >= 1 })
	if got := counter("kubepki_controller_certificates_issued_total"); got != 1 {
		t.Errorf("certificates_issued_total = %v, want 1", got)
	}
	if got := counter("kubepki_controller_signing_duration_seconds"); got != 1 {
		t.Errorf("signing_duration_seconds count = %v, want 1", got)
	}

	keyPEM, err := pki.MarshalPrivateKeyPEM(e.srv.CA.Key)
	if err != nil {
		t.Fatal(err)
	}
	block := keyPEM[bytes.Index(keyPEM, []byte("\n"))+1:]
	// The first base64 line of the CA key's PEM.
	secret := strings.TrimSpace(string(block[:bytes.Index(block, []byte("\n"))]))
	for _, line := range rec.all() {
		if strings.Contains(line, secret) || strings.Contains(line, "PRIVATE KEY") {
			t.Errorf("log line carries key material: %s", line)
		}
	}
	if len(rec.all()) == 0 {
		t.Error("no log lines recorded")
	}
}
