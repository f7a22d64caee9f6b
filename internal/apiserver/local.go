package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion/queryparams"
	"k8s.io/apimachinery/pkg/watch"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
)

// localUserAgent is the user agent the audit line and request log show
// for calls of LocalClient.
const localUserAgent = "kubepki-local"

// LocalClient returns the CSR client of the in-process controllers, for
// the same identity as LoopbackConfig. Get, List, Watch, UpdateStatus,
// UpdateApproval and Delete run this server's own authorization,
// validation, admission and storage code, with the request timeout,
// metrics and audit line of an HTTP request, but hand objects over in
// memory: no encoding, no HTTP exchange, no connection. The other methods
// go through the loopback listener.
func (s *Server) LocalClient() (certv1client.CertificateSigningRequestInterface, error) {
	c, err := certv1client.NewForConfig(s.LoopbackConfig())
	if err != nil {
		return nil, fmt.Errorf("build the loopback client: %w", err)
	}
	return &localCSRs{CertificateSigningRequestInterface: c.CertificateSigningRequests(), s: s, user: loopbackUser()}, nil
}

// localCSRs implements LocalClient; the embedded loopback client serves
// the methods it does not override.
type localCSRs struct {
	certv1client.CertificateSigningRequestInterface
	s    *Server
	user *UserInfo
}

// call authorizes a request for verb on the CSR name (and subresource),
// runs fn within the request timeout, and records it as finish records an
// HTTP request. An error is returned as a *apierrors.StatusError, as
// client-go returns it.
func (c *localCSRs) call(ctx context.Context, method, verb, name, sub string, fn func(ctx context.Context, st *reqState) error) error {
	start := time.Now()
	st := c.state(verb, name, sub)
	err := c.s.authorizeRequest(ctx, st)
	if err == nil && verb != "list" {
		err = checkName(name)
	}
	if err == nil {
		tctx, cancel := context.WithTimeoutCause(ctx, c.s.cfg.RequestTimeout, errRequestTimeout)
		defer cancel()
		err = fn(tctx, st)
		ctx = tctx // finish answers a passed deadline with 504 from its cause
	}
	return c.finish(ctx, st, method, start, err)
}

// checkName refuses an empty name, and one that cannot be in a request
// path, as dispatch does.
func checkName(name string) error {
	if name == "" {
		return apierrors.NewBadRequest("resource name may not be empty")
	}
	return pathNameError(name)
}

// state is the reqState of a local request.
func (c *localCSRs) state(verb, name, sub string) *reqState {
	path := "/apis/" + certGV.Group + "/" + certGV.Version + "/" + csrResource.Resource
	if name != "" {
		path += "/" + name
	}
	if sub != "" {
		path += "/" + sub
	}
	return &reqState{user: c.user, info: requestInfo{
		resource: true, verb: verb, group: certGV.Group, version: certGV.Version,
		kind: csrResource.Resource, name: name, subresource: sub, path: path, watch: verb == "watch",
	}}
}

// finish records the request and turns err into a StatusError.
func (c *localCSRs) finish(ctx context.Context, st *reqState, method string, start time.Time, err error) error {
	code := http.StatusOK
	var out error
	if err != nil {
		status := c.s.statusOf(ctx, method, st.info.path, err)
		status.Status = metav1.StatusFailure
		if status.Code == 0 {
			status.Code = http.StatusInternalServerError
		}
		code = int(status.Code)
		out = &apierrors.StatusError{ErrStatus: *status}
	}
	c.s.record(ctx, st, code, time.Since(start), callInfo{
		method: method, path: st.info.path, userAgent: localUserAgent, remote: "in-process", proto: "local",
	})
	return out
}

func (c *localCSRs) Get(ctx context.Context, name string, _ metav1.GetOptions) (*certv1.CertificateSigningRequest, error) {
	var csr *certv1.CertificateSigningRequest
	err := c.call(ctx, http.MethodGet, "get", name, "", func(ctx context.Context, _ *reqState) error {
		var err error
		csr, _, err = c.s.getStored(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return csr, nil
}

func (c *localCSRs) List(ctx context.Context, opts metav1.ListOptions) (*certv1.CertificateSigningRequestList, error) {
	var list *certv1.CertificateSigningRequestList
	err := c.call(ctx, http.MethodGet, "list", "", "", func(ctx context.Context, _ *reqState) error {
		q, err := queryparams.Convert(&opts)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("list options: %v", err))
		}
		p, err := parseList(q)
		if err != nil {
			return err
		}
		page, err := c.s.listFor(ctx, p)
		if err != nil {
			return err
		}
		list = csrList(page)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

func (c *localCSRs) UpdateStatus(ctx context.Context, csr *certv1.CertificateSigningRequest, opts metav1.UpdateOptions) (*certv1.CertificateSigningRequest, error) {
	return c.update(ctx, csr.Name, "status", csr, opts)
}

func (c *localCSRs) UpdateApproval(ctx context.Context, name string, csr *certv1.CertificateSigningRequest, opts metav1.UpdateOptions) (*certv1.CertificateSigningRequest, error) {
	return c.update(ctx, name, "approval", csr, opts)
}

// update is updateCSR in-process: csr is what the client sends.
func (c *localCSRs) update(ctx context.Context, name, sub string, csr *certv1.CertificateSigningRequest, opts metav1.UpdateOptions) (*certv1.CertificateSigningRequest, error) {
	var updated *certv1.CertificateSigningRequest
	err := c.call(ctx, http.MethodPut, "update", name, sub, func(ctx context.Context, st *reqState) error {
		if csr.Name != name {
			return apierrors.NewBadRequest(fmt.Sprintf(
				"the name of the object (%s) does not match the name on the URL (%s)", csr.Name, name))
		}
		dry, err := dryRunValues(opts.DryRun, "UpdateOptions")
		if err != nil {
			return err
		}
		updated, err = c.s.update(ctx, st.user, name, sub, dry, func(*certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
			return csr.DeepCopy(), nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

func (c *localCSRs) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return c.call(ctx, http.MethodDelete, "delete", name, "", func(ctx context.Context, _ *reqState) error {
		if err := validateDeleteOptions(&opts); err != nil {
			return err
		}
		_, _, err := c.s.delete(ctx, name, opts.Preconditions, len(opts.DryRun) > 0)
		return err
	})
}

// Watch streams the watch in memory: the same parameters, initial
// events, bookmarks, 410 and limits as a watch over HTTP, with the
// stored objects as the events' objects.
func (c *localCSRs) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	start := time.Now()
	st := c.state("watch", "", "")
	if err := c.s.authorizeRequest(ctx, st); err != nil {
		return nil, c.finish(ctx, st, http.MethodGet, start, err)
	}
	q, err := queryparams.Convert(&opts)
	if err != nil {
		return nil, c.finish(ctx, st, http.MethodGet, start, apierrors.NewBadRequest(fmt.Sprintf("watch options: %v", err)))
	}
	p, err := c.s.parseWatch(q)
	if err != nil {
		return nil, c.finish(ctx, st, http.MethodGet, start, err)
	}
	wctx, ow, err := c.s.openWatch(ctx, c.user.Name, p)
	if err != nil {
		return nil, c.finish(ctx, st, http.MethodGet, start, err)
	}
	wctx, cancel := context.WithCancel(wctx)
	w := &localWatch{ch: make(chan watch.Event), cancel: cancel}
	go func() {
		defer close(w.ch)
		defer ow.stop()
		defer cancel()
		c.s.stream(wctx, ow, localSink{ctx: wctx, ch: w.ch}, func(err error) *metav1.Status {
			return c.s.statusOf(wctx, http.MethodGet, st.info.path, err)
		})
		_ = c.finish(ctx, st, http.MethodGet, start, nil)
	}()
	return w, nil
}

// localWatch is the watch.Interface of a local watch.
type localWatch struct {
	ch     chan watch.Event
	cancel context.CancelFunc
}

func (w *localWatch) Stop()                          { w.cancel() }
func (w *localWatch) ResultChan() <-chan watch.Event { return w.ch }

// localSink hands a watch's events to its channel.
type localSink struct {
	ctx context.Context
	ch  chan<- watch.Event
}

func (k localSink) send(e watch.Event) error {
	select {
	case k.ch <- e:
		return nil
	case <-k.ctx.Done():
		return k.ctx.Err()
	}
}

func (k localSink) event(typ watch.EventType, csr *certv1.CertificateSigningRequest, shared *sharedEvent) error {
	if shared != nil {
		// The receiver owns what it gets (an informer's transform
		// changes it); the shared object stays as decoded.
		csr = csr.DeepCopy()
		csr.TypeMeta = metav1.TypeMeta{}
	}
	return k.send(watch.Event{Type: typ, Object: csr})
}

func (k localSink) bookmark(rev int64, initialEnd bool) error {
	return k.send(watch.Event{Type: watch.Bookmark, Object: bookmarkObject(rev, initialEnd)})
}

// flush does nothing: each event is delivered as it is sent.
func (localSink) flush() {}

func (k localSink) failure(st *metav1.Status) {
	st.Status = metav1.StatusFailure
	_ = k.send(watch.Event{Type: watch.Error, Object: st})
}
