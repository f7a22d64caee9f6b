package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
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
	// authz answers the auto-approver's SubjectAccessReview-like question
	// (may the requester create certificatesigningrequests/nodeclient or
	// /selfnodeclient?) from the same RBAC policy the API enforces.
	authz apiserver.Authorizer
	// onSynced runs once the controllers' cache is filled (each term).
	onSynced func()
}

// startControllers runs the signer, approver and cleaner against the
// server's in-process client until ctx ends; a controller failure is sent
// on errc. The returned function waits for them to stop.
func startControllers(ctx context.Context, c controllerSetup, errc chan<- error) (func(), error) {
	client, err := c.server.LocalClient()
	if err != nil {
		return nil, fmt.Errorf("build the controllers' client: %w", err)
	}
	hooks, err := controller.NewPrometheusMetrics(c.registry)
	if err != nil {
		return nil, fmt.Errorf("register controller metrics: %w", err)
	}
	m, err := controller.New(controller.Config{
		Client:          client,
		Signers:         controller.SameCA(c.ca),
		SigningDuration: c.duration,
		Logger:          c.log.With("component", "controller"),
		Metrics:         hooks,
		Elector:         c.elector,
		Authorize:       approvalAuthorizer(c.authz),
		OnSynced:        c.onSynced,
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

// releaseInterval is how often the pages of the bbolt file read by the
// controllers' initial list are given back while that list runs.
const releaseInterval = 250 * time.Millisecond

// afterInitialList gives back the pages of the bbolt file that the
// controllers' initial list reads: they are the whole store, and would
// otherwise stay in the process's RSS though later work touches only a few
// of them. It gives them back every releaseInterval from now until the
// returned function is called (the controllers' OnSynced) or ctx ends, so
// that they do not pile up during the list and raise the peak, and once
// more then. Other stores need nothing: it returns nil.
func afterInitialList(ctx context.Context, store storage.Interface, log *slog.Logger) func() {
	bs, ok := store.(*bolt.Store)
	if !ok {
		return nil
	}
	release := func() {
		if err := bs.ReleaseReadPages(); err != nil {
			log.Warn("release the store pages read by the initial list", "error", err.Error())
		}
	}
	synced := make(chan struct{})
	go func() {
		t := time.NewTicker(releaseInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-synced:
				return
			case <-t.C:
				release()
			}
		}
	}()
	stop := sync.OnceFunc(func() { close(synced) })
	return func() {
		stop()
		release()
	}
}

// approvalAuthorizer adapts the API's authorizer to the auto-approver, as
// kube-controller-manager's csrapproving controller asks kube-apiserver
// with a SubjectAccessReview; nil keeps the approver's built-in kubeadm
// bindings.
func approvalAuthorizer(az apiserver.Authorizer) certificates.AuthorizeFunc {
	if az == nil {
		return nil
	}
	return func(ctx context.Context, u certificates.User, subresource string) (bool, error) {
		allowed, _, err := az.Authorize(ctx, apiserver.Attributes{
			User:            &apiserver.UserInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra},
			Verb:            "create",
			APIGroup:        "certificates.k8s.io",
			APIVersion:      "v1",
			Resource:        "certificatesigningrequests",
			Subresource:     subresource,
			ResourceRequest: true,
		})
		return allowed, err
	}
}
