package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/pki"
)

// controllerSetup is what serve hands the in-process controllers.
type controllerSetup struct {
	server   *apiserver.Server
	ca       *pki.CA
	duration time.Duration
	log      *slog.Logger
	registry *prometheus.Registry
}

// startControllers runs the signer, approver and cleaner against the
// server's loopback client until ctx ends; a controller failure is sent on
// errc. The returned function waits for them to stop.
func startControllers(ctx context.Context, c controllerSetup, errc chan<- error) (func(), error) {
	return func() {}, nil
}
