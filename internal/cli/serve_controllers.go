package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
)

// controllerSetup is what serve hands the in-process controllers.
type controllerSetup struct {
	server   *apiserver.Server
	ca       *pki.CA
	duration time.Duration
	log      *slog.Logger
	registry *prometheus.Registry
	// elector, when set, runs the controllers only while this replica
	// leads (several servers sharing etcd); nil runs them always.
	elector controller.Elector
}

// startControllers runs the signer, approver and cleaner against the
// server's loopback client until ctx ends; a controller failure is sent on
// errc. The returned function waits for them to stop.
func startControllers(ctx context.Context, c controllerSetup, errc chan<- error) (func(), error) {
	cs, err := kubernetes.NewForConfig(c.server.LoopbackConfig())
	if err != nil {
		return nil, fmt.Errorf("build the controllers' loopback client: %w", err)
	}
	hooks, err := controller.NewPrometheusMetrics(c.registry)
	if err != nil {
		return nil, fmt.Errorf("register controller metrics: %w", err)
	}
	m, err := controller.New(controller.Config{
		Client:          cs.CertificatesV1().CertificateSigningRequests(),
		Signers:         controller.SameCA(c.ca),
		SigningDuration: c.duration,
		Logger:          c.log.With("component", "controller"),
		Metrics:         hooks,
		Elector:         c.elector,
	})
	if err != nil {
		return nil, fmt.Errorf("start the controllers: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("controllers: %w", err)
		}
	})
	return wg.Wait, nil
}
