package cli

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	certclient "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

// Defaults of the enrolment commands (user add, node add).
const (
	defaultEnrollTimeout = 5 * time.Minute
	// minExpiration is the smallest spec.expirationSeconds the API accepts.
	minExpiration = 10 * time.Minute
	// cleanupTimeout bounds the deletion of an abandoned request.
	cleanupTimeout = 10 * time.Second
)

// clientFlags are the connection flags of commands that talk to an API
// server, named as kubectl's.
type clientFlags struct {
	kubeconfig string
	context    string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, clientcmd.RecommendedConfigPathFlag, "", "kubeconfig file to use instead of $KUBECONFIG or ~/.kube/config")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use instead of the current one")
}

// clientConfig returns kubectl's client configuration for the flags.
func (f *clientFlags) clientConfig() clientcmd.ClientConfig {
	return kubeconfig.ClientConfig(f.kubeconfig, f.context)
}

// csrClient returns the typed CertificateSigningRequest client for the
// flags, with errors that say which kubeconfig and context were used.
func (f *clientFlags) csrClient() (certclient.CertificateSigningRequestInterface, error) {
	rc, err := f.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load client configuration: %w; pass --kubeconfig and --context, or check $KUBECONFIG", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create API client: %w", err)
	}
	return cs.CertificatesV1().CertificateSigningRequests(), nil
}

// enrollRequest is one certificate to obtain through the Certificates API.
type enrollRequest struct {
	// kind names the request in messages and CSR names: "user", "node".
	kind       string
	subject    pkix.Name
	sans       pki.SANs
	signerName string
	// usages are the exact spec.usages; for RSA keys "key encipherment"
	// is added as the kubelet does.
	usages      []certv1.KeyUsage
	extKeyUsage x509.ExtKeyUsage
	keyAlg      pki.KeyAlgorithm
	expiration  time.Duration
	approve     bool
	// approver names the command in the Approved condition's message.
	approver string
}

// enrollResult is what a successful enrolment returns.
type enrollResult struct {
	// obj is the request as created (its UID guards a later deletion).
	obj     *certv1.CertificateSigningRequest
	csrName string
	key     crypto.Signer
	keyPEM  []byte
	cert    *x509.Certificate
	certPEM []byte
}

// enroller runs enrolments against one API server.
type enroller struct {
	client certclient.CertificateSigningRequestInterface
	// roots verify the issued certificate's chain.
	roots  []*x509.Certificate
	errOut io.Writer
	// progress reports waiting on stderr (only on a terminal).
	progress bool
	now      func() time.Time
}

// invalidNameChars are the runs of characters replaced by "-" in CSR
// object names, which keeps them valid DNS-1123 subdomains.
var invalidNameChars = regexp.MustCompile(`[^a-z0-9]+`)

// sanitizeName returns name lower-cased, with every run of characters
// other than a-z and 0-9 replaced by "-", at most 200 characters long and
// without leading or trailing "-": a valid part of an object name and a
// file name with no path separator and no leading dot. It may be empty.
func sanitizeName(name string) string {
	s := invalidNameChars.ReplaceAllString(strings.ToLower(name), "-")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Trim(s, "-")
}

// csrObjectName returns a fresh, valid object name for a request of kind
// for name: "kubepki-<kind>-<sanitised name>-<8 random hex digits>".
func csrObjectName(kind, name string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := sanitizeName(name)
	parts := []string{"kubepki", kind}
	if s != "" {
		parts = append(parts, s)
	}
	parts = append(parts, hex.EncodeToString(b[:]))
	return strings.Join(parts, "-"), nil
}

// enroll generates a key, creates a CertificateSigningRequest for it,
// approves it if asked, waits for the certificate with a watch until ctx
// ends, and verifies the certificate: its public key must be ours, its
// subject the one requested, and it must chain to e.roots for the
// requested usage. It only ever follows the object it created (same UID).
// An unissued request it created is deleted again when approving or
// waiting fails, times out or is interrupted ([enroller.discard]); one
// whose certificate is refused is kept.
func (e *enroller) enroll(ctx context.Context, req enrollRequest) (*enrollResult, error) {
	key, err := pki.GenerateKey(req.keyAlg)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", req.keyAlg, err)
	}
	der, err := pki.CreateCSR(key, req.subject, req.sans)
	if err != nil {
		return nil, err
	}
	name, err := csrObjectName(req.kind, req.subject.CommonName)
	if err != nil {
		return nil, fmt.Errorf("choose CSR name: %w", err)
	}
	usages := slices.Clone(req.usages)
	if _, isRSA := key.Public().(*rsa.PublicKey); isRSA {
		usages = append(usages, certv1.UsageKeyEncipherment)
	}
	obj := &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pki.MarshalCSRPEM(der),
			SignerName: req.signerName,
			Usages:     usages,
		},
	}
	if req.expiration > 0 {
		secs := int32(req.expiration / time.Second)
		obj.Spec.ExpirationSeconds = &secs
	}
	created, err := e.client.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return nil, &ExitError{Code: 1, Err: fmt.Errorf("%s while creating CertificateSigningRequest %s; no file was written; the request may exist on the server: check with \"kubepki csr get %s\", delete it with \"kubepki csr delete %s\" and run the command again: %w", stopReason(ctx), name, name, name, errWaitEnded)}
		}
		return nil, fmt.Errorf("create CertificateSigningRequest %s: %w", name, apiError(err))
	}
	fail := func(err error) (*enrollResult, error) {
		return nil, e.discard(created, err)
	}
	if req.approve {
		if err := e.approve(ctx, created, req.approver); err != nil {
			return fail(err)
		}
	}
	done, err := e.wait(ctx, created)
	if err != nil {
		if errors.Is(err, errWaitEnded) && stopReason(ctx) == "timed out" {
			err = e.explainTimeout(created, err)
		}
		return fail(err)
	}
	certs, err := pki.ParseCertificatesPEM(done.Status.Certificate)
	if err != nil {
		return nil, fmt.Errorf("CertificateSigningRequest %s: parse issued certificate: %w", name, err)
	}
	leaf := certs[0]
	if !pki.PublicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("CertificateSigningRequest %s: the issued certificate is for a different public key than the one this command generated; refusing it (the signer or the object is not trustworthy); no file was written", name)
	}
	if leaf.Subject.CommonName != req.subject.CommonName || !slices.Equal(leaf.Subject.Organization, req.subject.Organization) {
		return nil, fmt.Errorf("CertificateSigningRequest %s: the issued certificate is for CN=%q O=%q, but CN=%q O=%q was requested; refusing it; no file was written", name, leaf.Subject.CommonName, leaf.Subject.Organization, req.subject.CommonName, req.subject.Organization)
	}
	if len(e.roots) > 0 {
		if err := pki.VerifyChain(leaf, e.roots, certs[1:], req.extKeyUsage, e.now()); err != nil {
			return nil, fmt.Errorf("CertificateSigningRequest %s: the issued certificate does not chain to the cluster CA: %w; no file was written; pass --client-ca-file if the API server trusts another CA for client certificates", name, err)
		}
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	// The leaf first, then any intermediates the signer returned, so that
	// the API server can build the chain.
	var certPEM []byte
	for _, c := range certs {
		certPEM = append(certPEM, pki.MarshalCertificatePEM(c)...)
	}
	return &enrollResult{obj: created, csrName: name, key: key, keyPEM: keyPEM, cert: leaf, certPEM: certPEM}, nil
}

// approve adds an Approved condition to the request, retrying on
// conflicts with a fresh copy of the same object (same UID). A request
// that is already approved (an earlier attempt whose answer was lost) is
// left as it is. Transient API errors ([isTransient]) are retried with the
// backoff of [retrier] until ctx ends, each run of them reported on
// stderr; other answers end it at once: 403 (with what to do instead),
// 404, 422, or the name taken by another object.
func (e *enroller) approve(ctx context.Context, created *certv1.CertificateSigningRequest, approver string) error {
	r := e.retrier("approving CertificateSigningRequest " + created.Name)
	for {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			return e.approveOnce(ctx, created, approver)
		})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return approveStopped(ctx, created.Name, r.last)
		}
		var te *errTransient
		if !errors.As(err, &te) {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("approve CertificateSigningRequest %s: %w; your identity may not read or approve requests for this signer: run without --approve and ask an approver to run \"kubepki csr approve\" (or \"kubectl certificate approve\") while this command waits", created.Name, apiError(err))
			}
			return fmt.Errorf("approve CertificateSigningRequest %s: %w", created.Name, apiError(err))
		}
		if r.backoff(ctx, te.err) != nil {
			return approveStopped(ctx, created.Name, r.last)
		}
	}
}

// approveOnce reads the request and adds the Approved condition unless
// it has one. Errors that may pass are returned as [*errTransient];
// conflicts as they are, for [retry.RetryOnConflict].
func (e *enroller) approveOnce(ctx context.Context, created *certv1.CertificateSigningRequest, approver string) error {
	cur, err := e.client.Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return transient(err)
	}
	if cur.UID != created.UID {
		return fmt.Errorf("CertificateSigningRequest %s was replaced by another object (UID %s, ours %s); not approving it", created.Name, cur.UID, created.UID)
	}
	if hasCondition(cur, certv1.CertificateApproved) {
		return nil
	}
	cur.Status.Conditions = append(cur.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type:           certv1.CertificateApproved,
		Status:         "True",
		Reason:         "KubepkiApprove",
		Message:        fmt.Sprintf("This CSR was approved by %s.", approver),
		LastUpdateTime: metav1.NewTime(e.now()),
	})
	_, err = e.client.UpdateApproval(ctx, created.Name, cur, metav1.UpdateOptions{})
	return transient(err)
}

// transient returns err wrapped as [*errTransient] if it may pass
// ([isTransient]), otherwise unchanged (nil stays nil).
func transient(err error) error {
	if err != nil && isTransient(err) {
		return &errTransient{err}
	}
	return err
}

// approveStopped explains why approving name ended with ctx, naming the
// last transient error if there was one.
func approveStopped(ctx context.Context, name string, last error) error {
	cause := ""
	if last != nil {
		cause = fmt.Sprintf(" (last error: %v)", apiError(last))
	}
	next := "run the command again"
	if stopReason(ctx) == "timed out" {
		next += ", with a longer --timeout if the API server is slow to answer"
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("%s while approving CertificateSigningRequest %s%s; no file was written; %s: %w", stopReason(ctx), name, cause, next, errWaitEnded)}
}

// errWaitEnded is returned when the wait ends without a certificate.
var errWaitEnded = errors.New("stopped waiting")

// Bounds of the wait for a certificate.
const (
	// retryMin and retryMax bound the backoff between attempts after a
	// transient error; it doubles from retryMin.
	retryMin = 250 * time.Millisecond
	retryMax = 10 * time.Second
	// maxRetryAfter caps how long a server's Retry-After is honoured.
	maxRetryAfter = time.Minute
	// pollInterval is the period of GETs when the identity may not watch.
	pollInterval = time.Second
	// quickClose is how soon after opening a watch that ends without an
	// event counts as a failure (backed off) rather than a normal end.
	quickClose = time.Second
)

// waiter is the state of one wait for a certificate: the object followed,
// where the watch resumes, and the current run of transient failures.
type waiter struct {
	e       *enroller
	created *certv1.CertificateSigningRequest
	// rv is the resourceVersion the next watch starts from.
	rv string
	// relist is set when rv has expired (410): the next round lists.
	relist bool
	// poll is set when the identity may not watch: GET every pollInterval.
	poll bool
	// retrier spaces the rounds after transient failures.
	*retrier
}

// retrier spaces the attempts of one step through a run of transient API
// errors ([isTransient]): retryMin after the first, doubling up to
// retryMax, or the server's Retry-After (at most maxRetryAfter). The
// first failure of a run is reported on stderr, later ones only on a
// terminal. The zero value is not usable; see [enroller.retrier].
type retrier struct {
	errOut   io.Writer
	progress bool
	// step names what is retried in messages: "waiting for
	// CertificateSigningRequest NAME", "approving CertificateSigningRequest NAME".
	step string
	// failures counts consecutive transient failures, last is the latest
	// of them, and delay is the backoff before the next attempt.
	failures int
	last     error
	delay    time.Duration
}

// retrier returns a [retrier] for step reporting to e's stderr.
func (e *enroller) retrier(step string) *retrier {
	return &retrier{errOut: e.errOut, progress: e.progress, step: step}
}

// errTransient wraps the cause of a failed round of [enroller.wait] or
// attempt of [enroller.approve] that is tried again after a backoff.
type errTransient struct{ err error }

func (e *errTransient) Error() string { return e.err.Error() }
func (e *errTransient) Unwrap() error { return e.err }

// wait follows the request until it has a certificate, is denied or
// failed, is deleted or replaced, or ctx ends. It watches from the
// created object's resourceVersion and resumes a watch that ends from the
// last version seen (or lists again when that version has expired). API
// errors that may pass (connections refused or reset, 5xx, 429, expired
// watches) are retried with a backoff from retryMin to retryMax (or the
// server's Retry-After) until ctx ends, each run of them reported on
// stderr; if the identity may not watch, it polls with GET. Only answers
// that cannot change end the wait at once: 403 on get, the object deleted
// or replaced, Denied, Failed, or another client error.
func (e *enroller) wait(ctx context.Context, created *certv1.CertificateSigningRequest) (*certv1.CertificateSigningRequest, error) {
	if e.progress {
		fmt.Fprintf(e.errOut, "waiting for CertificateSigningRequest %s to be approved and issued...\n", created.Name)
	}
	w := &waiter{e: e, created: created, rv: created.ResourceVersion, retrier: e.retrier("waiting for CertificateSigningRequest " + created.Name)}
	for {
		var obj *certv1.CertificateSigningRequest
		var done bool
		var err error
		switch {
		case w.poll:
			obj, done, err = w.get(ctx)
		case w.relist:
			obj, done, err = w.list(ctx)
		default:
			obj, done, err = w.watch(ctx)
		}
		if ctx.Err() != nil {
			return nil, waitError(ctx, created.Name)
		}
		if done {
			return obj, nil
		}
		var te *errTransient
		switch {
		case errors.As(err, &te):
			if w.backoff(ctx, te.err) != nil {
				return nil, waitError(ctx, created.Name)
			}
			continue
		case err != nil:
			return nil, err
		}
		if w.failures > 0 && w.e.progress {
			fmt.Fprintf(w.e.errOut, "connected again; waiting for CertificateSigningRequest %s...\n", created.Name)
		}
		w.reset()
		if w.poll {
			if err := sleep(ctx, pollInterval); err != nil {
				return nil, waitError(ctx, created.Name)
			}
		}
	}
}

// backoff reports cause, a transient failure, and sleeps before the next
// attempt; it returns ctx's error if ctx ends first.
func (r *retrier) backoff(ctx context.Context, cause error) error {
	r.failures++
	r.last = cause
	switch {
	case r.delay == 0:
		r.delay = retryMin
	default:
		r.delay = min(2*r.delay, retryMax)
	}
	d := r.delay
	if secs, ok := apierrors.SuggestsClientDelay(cause); ok && secs > 0 {
		d = min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	if r.failures == 1 || r.progress {
		fmt.Fprintf(r.errOut, "warning: %s: %v; retrying in %s until the timeout\n", r.step, apiError(cause), d)
	}
	return sleep(ctx, d)
}

// reset ends a run of failures: the next one is reported and backs off
// from retryMin again.
func (r *retrier) reset() { r.failures, r.last, r.delay = 0, nil, 0 }

// sleep waits for d or until ctx ends, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// watch runs one watch from w.rv until a result, an error, or its end
// (nil error, not done: the caller opens the next one).
func (w *waiter) watch(ctx context.Context) (*certv1.CertificateSigningRequest, bool, error) {
	name := w.created.Name
	opened := time.Now()
	ws, err := w.e.client.Watch(ctx, metav1.ListOptions{
		FieldSelector:       fields.OneTermEqualSelector("metadata.name", name).String(),
		ResourceVersion:     w.rv,
		AllowWatchBookmarks: true,
	})
	if err != nil {
		switch {
		case apierrors.IsForbidden(err):
			fmt.Fprintf(w.e.errOut, "warning: your identity may not watch CertificateSigningRequests (%v); checking %s with get every %s instead\n", apiError(err), name, pollInterval)
			w.poll = true
			return nil, false, nil
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			w.relist = true
			return nil, false, nil
		}
		return nil, false, classify("watch", name, err)
	}
	defer ws.Stop()
	events := 0
	for {
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case ev, ok := <-ws.ResultChan():
			if !ok {
				if events == 0 && time.Since(opened) < quickClose {
					return nil, false, &errTransient{fmt.Errorf("the watch of %s ended at once", name)}
				}
				return nil, false, nil
			}
			events++
			switch ev.Type {
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					w.relist = true
					return nil, false, nil
				}
				return nil, false, &errTransient{err}
			case watch.Bookmark:
				if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
					w.rv = m.GetResourceVersion()
				}
				continue
			}
			obj, ok := ev.Object.(*certv1.CertificateSigningRequest)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted && obj.UID == w.created.UID {
				return nil, false, errDeleted(name)
			}
			w.rv = obj.ResourceVersion
			if res, done, err := w.e.check(obj, w.created.UID); err != nil || done {
				return res, done, err
			}
		}
	}
}

// list reads the request's current state after its watch expired and
// resumes watching from the list's resourceVersion. An identity that may
// watch but not list reads it with GET and watches from "now" instead
// (resourceVersion "", whose first event is the object's current state).
func (w *waiter) list(ctx context.Context) (*certv1.CertificateSigningRequest, bool, error) {
	name := w.created.Name
	l, err := w.e.client.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if apierrors.IsForbidden(err) {
		obj, done, err := w.get(ctx)
		if err == nil && !done {
			w.relist, w.rv = false, ""
		}
		return obj, done, err
	}
	if err != nil {
		return nil, false, classify("list", name, err)
	}
	w.relist, w.rv = false, l.ResourceVersion
	for i := range l.Items {
		if l.Items[i].Name == name {
			return w.e.check(&l.Items[i], w.created.UID)
		}
	}
	return nil, false, errDeleted(name)
}

// get reads the request once.
func (w *waiter) get(ctx context.Context) (*certv1.CertificateSigningRequest, bool, error) {
	name := w.created.Name
	cur, err := w.e.client.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, errDeleted(name)
	case apierrors.IsForbidden(err):
		return nil, false, fmt.Errorf("get CertificateSigningRequest %s: %w; your identity may create requests but not read them, so the certificate cannot be fetched: use a kubeconfig that may get (and watch) certificatesigningrequests", name, apiError(err))
	case err != nil:
		return nil, false, classify("get", name, err)
	}
	return w.e.check(cur, w.created.UID)
}

// errDeleted is the error for a request deleted while waiting.
func errDeleted(name string) error {
	return fmt.Errorf("CertificateSigningRequest %s was deleted before a certificate was issued; no file was written; run the command again", name)
}

// classify wraps err from verb on name as transient (retried) or not.
func classify(verb, name string, err error) error {
	if isTransient(err) {
		return &errTransient{fmt.Errorf("%s: %w", verb, err)}
	}
	return fmt.Errorf("%s CertificateSigningRequest %s: %w", verb, name, apiError(err))
}

// isTransient reports whether err may pass if the request is repeated:
// no answer at all (connection refused or reset, EOF, timeouts: a
// restarting server), or an answer of 429 Too Many Requests, 5xx, or a
// server-side timeout. Other API answers (400, 401, 403, 404, 422) and
// untrusted server certificates are permanent.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code := st.Status().Code
		return code == http.StatusTooManyRequests || code >= 500 ||
			apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err)
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var tlsVerify *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &tlsVerify) {
		return false
	}
	return true
}

// check reports whether obj ends the wait: issued (done), denied or failed
// (error), or replaced by another object of the same name (error).
func (e *enroller) check(obj *certv1.CertificateSigningRequest, uid types.UID) (*certv1.CertificateSigningRequest, bool, error) {
	if obj.UID != uid {
		return nil, false, fmt.Errorf("CertificateSigningRequest %s was replaced by another object (UID %s, ours %s); not adopting it; no file was written; run the command again", obj.Name, obj.UID, uid)
	}
	for _, c := range obj.Status.Conditions {
		switch c.Type {
		case certv1.CertificateDenied:
			return nil, false, &ExitError{Code: 1, Err: fmt.Errorf("CertificateSigningRequest %s was denied (reason %q: %s); no file was written", obj.Name, c.Reason, c.Message)}
		case certv1.CertificateFailed:
			return nil, false, &ExitError{Code: 1, Err: fmt.Errorf("CertificateSigningRequest %s failed (reason %q: %s); no file was written", obj.Name, c.Reason, c.Message)}
		}
	}
	if len(obj.Status.Certificate) > 0 {
		return obj, true, nil
	}
	return nil, false, nil
}

// explainTimeout looks at the request once more after a timeout: if it
// was approved but never issued, the signer is the likely culprit and the
// error says so; otherwise err is returned unchanged.
func (e *enroller) explainTimeout(created *certv1.CertificateSigningRequest, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	cur, gerr := e.client.Get(ctx, created.Name, metav1.GetOptions{})
	if gerr != nil || cur.UID != created.UID || !hasCondition(cur, certv1.CertificateApproved) {
		return err
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("timed out: CertificateSigningRequest %s was approved but not issued; check that a signer for %s runs (kube-controller-manager with --cluster-signing-cert-file, or kubepki serve with a signing CA); no file was written; run the command again once it does: %w", created.Name, created.Spec.SignerName, errWaitEnded)}
}

// abandon deletes a request this run created and whose result is not
// kept, so that nobody can approve it later (or, once issued, so that it
// does not linger); the UID precondition makes sure only our object is
// deleted. Failures are reported, not returned; abandon reports whether
// the request is gone.
func (e *enroller) abandon(created *certv1.CertificateSigningRequest) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	uid := created.UID
	err := e.client.Delete(ctx, created.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		fmt.Fprintf(e.errOut, "warning: could not delete CertificateSigningRequest %s: %v; it can still be approved and signed although its key is gone: delete it with \"kubectl delete csr %s\" (or \"kubepki csr delete %s\")\n", created.Name, apiError(err), created.Name, created.Name)
		return false
	}
	return true
}

// discard deletes created with [enroller.abandon] after err ended the
// run that created it, and returns err saying whether the request was
// deleted or the warning abandon printed tells how to delete it.
func (e *enroller) discard(created *certv1.CertificateSigningRequest, err error) error {
	if e.abandon(created) {
		return fmt.Errorf("%w; the request this command created (CertificateSigningRequest %s) was deleted", err, created.Name)
	}
	return fmt.Errorf("%w; the request this command created (CertificateSigningRequest %s) could not be deleted: delete it as the warning says", err, created.Name)
}

// waitError explains why waiting for name ended.
func waitError(ctx context.Context, name string) error {
	what := "the request"
	if name != "" {
		what = "CertificateSigningRequest " + name
	}
	if stopReason(ctx) == "timed out" {
		return &ExitError{Code: 1, Err: fmt.Errorf("timed out waiting for %s to be approved and issued; no file was written; have it approved sooner (or pass --approve) and run the command again, with a longer --timeout if needed: %w", what, errWaitEnded)}
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("interrupted while waiting for %s; no file was written; run the command again to start over: %w", what, errWaitEnded)}
}

// stopReason says why ctx ended: "timed out" or "interrupted".
func stopReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out"
	}
	return "interrupted"
}

// hasCondition reports whether csr has a condition of type t.
func hasCondition(csr *certv1.CertificateSigningRequest, t certv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			return true
		}
	}
	return false
}

// apiError formats an API Status error as kubectl does:
// "Error from server (Reason): message". Other errors pass through.
func apiError(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		reason := string(st.Reason)
		if reason == "" {
			reason = fmt.Sprint(st.Code)
		}
		return fmt.Errorf("Error from server (%s): %w", reason, err)
	}
	return err
}

// enrollOptions are the flags shared by "user add" and "node add".
type enrollOptions struct {
	client      clientFlags
	output      string
	approve     bool
	expiration  time.Duration
	timeout     time.Duration
	keyAlg      string
	clientCA    string
	force       bool
	alg         pki.KeyAlgorithm
	clusterName string
	cluster     *clientcmdapi.Cluster
	roots       []*x509.Certificate
}

func (o *enrollOptions) addFlags(cmd *cobra.Command) {
	o.client.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "kubeconfig file to write")
	f.BoolVar(&o.approve, "approve", false, "approve the request (needs approve permission for the signer)")
	f.DurationVar(&o.expiration, "expiration", 0, "requested certificate lifetime (spec.expirationSeconds, at least 10m); the signer may shorten it; default: the signer's")
	f.DurationVar(&o.timeout, "timeout", defaultEnrollTimeout, "how long to wait for approval and issuance")
	f.StringVar(&o.keyAlg, "key-algorithm", string(pki.DefaultKeyAlgorithm), "key algorithm: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519")
	f.StringVar(&o.clientCA, "client-ca-file", "", "CA bundle the issued certificate must chain to (default: the cluster's certificate-authority)")
	f.BoolVar(&o.force, "force", false, "replace the output file if it exists")
}

// complete checks the common flags and loads the cluster of the chosen
// context: its entry (with the CA embedded) for the new kubeconfig and the
// roots to verify the issued certificate against.
func (o *enrollOptions) complete() error {
	alg, err := pki.ParseKeyAlgorithm(o.keyAlg)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--key-algorithm: %w", err)}
	}
	o.alg = alg
	if o.expiration != 0 && o.expiration < minExpiration {
		return &UsageError{Err: fmt.Errorf("--expiration %s is below the API's minimum of %s", o.expiration, minExpiration)}
	}
	if o.expiration/time.Second > math.MaxInt32 {
		return &UsageError{Err: fmt.Errorf("--expiration %s does not fit spec.expirationSeconds (at most %d seconds)", o.expiration, math.MaxInt32)}
	}
	if o.timeout <= 0 {
		return &UsageError{Err: fmt.Errorf("--timeout must be positive, got %s", o.timeout)}
	}
	if err := checkOutputPath(o.output, o.force, "kubeconfig"); err != nil {
		return err
	}
	cc := o.client.clientConfig()
	raw, err := cc.RawConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	ctxName := o.client.context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[ctxName]
	if !ok {
		return fmt.Errorf("kubeconfig context %q not found; pass --context or --kubeconfig with an admin kubeconfig", ctxName)
	}
	cluster, ok := raw.Clusters[kctx.Cluster]
	if !ok {
		return fmt.Errorf("kubeconfig context %q names cluster %q, which is not defined", ctxName, kctx.Cluster)
	}
	c := cluster.DeepCopy()
	c.LocationOfOrigin = ""
	if err := clientcmdapi.FlattenContent(&c.CertificateAuthority, &c.CertificateAuthorityData, ""); err != nil {
		return fmt.Errorf("read certificate-authority of cluster %q: %w", kctx.Cluster, err)
	}
	o.clusterName, o.cluster = kctx.Cluster, c
	caPEM := c.CertificateAuthorityData
	if o.clientCA != "" {
		caPEM, err = pki.ReadFile(o.clientCA)
		if err != nil {
			return fmt.Errorf("read --client-ca-file: %w", err)
		}
	}
	if len(caPEM) > 0 {
		o.roots, err = pki.ParseCertificatesPEM(caPEM)
		if err != nil {
			return fmt.Errorf("parse CA certificates of cluster %q: %w", kctx.Cluster, err)
		}
	}
	return nil
}

// checkOutputPath fails early, before anything is requested, if path
// cannot be written: its directory is missing, it exists and force is
// not set, or it is a symlink, folder or other non-regular file, which
// no write replaces even with force ([pki.ErrUnsafePath]). what names
// the file in that last message ("kubeconfig").
func checkOutputPath(path string, force bool, what string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write %s: directory %s does not exist; create it first", path, dir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if !force {
		return fmt.Errorf("%s already exists; choose another path or pass --force to replace it", path)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("write %s: write %s: %w; remove it or choose another path", what, path, pki.ErrUnsafePath)
	}
	return nil
}

// enroller returns an enroller for the options' API server.
func (o *enrollOptions) enroller(streams IOStreams) (*enroller, error) {
	client, err := o.client.csrClient()
	if err != nil {
		return nil, err
	}
	if len(o.roots) == 0 {
		fmt.Fprintf(streams.ErrOut, "warning: cluster %q has no certificate-authority; the issued certificate's chain is not verified\n", o.clusterName)
	}
	return &enroller{client: client, roots: o.roots, errOut: streams.ErrOut, progress: isTerminal(streams.ErrOut), now: time.Now}, nil
}

// marshalKubeconfig returns a kubeconfig for userName with the options'
// cluster and the result's credentials embedded. The caller clears it.
func (o *enrollOptions) marshalKubeconfig(userName string, res *enrollResult) ([]byte, error) {
	cfg := kubeconfig.NewCertConfig(o.clusterName, o.cluster.Server, o.cluster.CertificateAuthorityData, userName, res.certPEM, res.keyPEM)
	cfg.Clusters[o.clusterName] = o.cluster.DeepCopy()
	return kubeconfig.Marshal(cfg)
}

// writeKubeconfig writes a kubeconfig for userName with the options'
// cluster and the result's credentials embedded.
func (o *enrollOptions) writeKubeconfig(userName string, res *enrollResult) error {
	b, err := o.marshalKubeconfig(userName, res)
	if err != nil {
		return err
	}
	defer clear(b)
	write := pki.WriteFileNew
	if o.force {
		write = pki.WriteFile
	}
	if err := write(o.output, b, pki.ModeKubeconfig); err != nil {
		if errors.Is(err, pki.ErrExists) {
			return fmt.Errorf("%s appeared while waiting; the certificate was issued (CSR %s) but not saved: run the command again with another -o or --force", o.output, res.csrName)
		}
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// userAddOptions are the options of "user add".
type userAddOptions struct {
	enrollOptions
	name   string
	groups []string
}

func newUserCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user SUBCOMMAND",
		Short: "Onboard users with client certificates",
		Long:  `Onboard users of a Kubernetes API server with client certificates issued through the Certificates API.`,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return &UsageError{Err: errors.New(`"user" needs a subcommand; see "kubepki user --help"`)}
		},
	}
	cmd.AddCommand(newUserAddCommand(streams))
	return cmd
}

func newUserAddCommand(streams IOStreams) *cobra.Command {
	o := &userAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME [--group GROUP]... [-o FILE]",
		Short: "Issue a client certificate for a user and write their kubeconfig",
		Long: `Create a user's credentials in one step, against any Kubernetes API server:
generate a private key locally (it never leaves this machine), send a
certificates.k8s.io/v1 CertificateSigningRequest for CN=NAME, O=GROUP... to the
signer kubernetes.io/kube-apiserver-client with the "client auth" usage,
approve it with --approve, wait for the certificate (--timeout), check that it
is for our key and chains to the cluster CA, and write a kubeconfig (0600, to
NAME.conf in the current folder unless -o; NAME there is lower-cased and every
run of characters other than a-z and 0-9 becomes "-", as in the request's
name, so "Jane.Doe" writes jane-doe.conf and "../x" writes x.conf) with the
cluster of the current (or --context) context and the new credentials
embedded.

If approving fails, the request is denied, fails, times out or is interrupted,
or the kubeconfig cannot be written, nothing is written and the request is
deleted again (if it cannot be, a warning says how); run the command again to
start over. While approving and waiting, lost connections, 5xx and 429 answers
(after their Retry-After) and expired watches are retried until --timeout;
other answers, such as 403 or 422, end the command at once. The identity of
your kubeconfig needs "create" and "get" on certificatesigningrequests, and
"watch" (with "list" to resume an expired watch) to see the answer at once;
without "watch" it polls with "get".

SECURITY NOTICE: this issues a credential for NAME with the given groups. With
--approve you approve it yourself; anyone holding the written kubeconfig acts as
that user until the certificate expires (client certificates cannot be
revoked), so keep --expiration short and the file private.`,
		Example: `  kubepki user add jane --group dev --approve
  kubepki user add jane --group dev --group ops --expiration 24h -o jane.conf --kubeconfig admin.conf`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), streams)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.groups, "group", nil, "group (certificate O) of the user; repeat for several")
	return cmd
}

// Complete takes the name and defaults the output file to the sanitised
// name (see [sanitizeName]) with ".conf", in the current folder, so that
// a name such as "../x" or "a/b" never picks the folder.
func (o *userAddOptions) Complete(args []string) error {
	o.name = args[0]
	if o.output == "" {
		if base := sanitizeName(o.name); base != "" {
			o.output = base + ".conf"
		}
	}
	return nil
}

// Validate checks the user name and groups, then the common flags.
func (o *userAddOptions) Validate() error {
	if err := validateIdentity(o.name, o.groups); err != nil {
		return err
	}
	if strings.HasPrefix(o.name, "system:node:") {
		return &UsageError{Err: fmt.Errorf("user name %q is a node identity; use \"kubepki node add\"", o.name)}
	}
	if o.output == "" {
		return &UsageError{Err: fmt.Errorf("user name %q has no letter or digit to name the default kubeconfig file; pass -o FILE", o.name)}
	}
	return o.complete()
}

// validateIdentity checks a user name and groups as the API server's
// certificate authenticator reads them.
func validateIdentity(name string, groups []string) error {
	if strings.TrimSpace(name) == "" {
		return &UsageError{Err: errors.New("the user name must not be empty")}
	}
	if len(name) > 64 {
		return &UsageError{Err: fmt.Errorf("user name %q is longer than the 64 characters a certificate CN may have", name)}
	}
	for _, g := range groups {
		if strings.TrimSpace(g) == "" {
			return &UsageError{Err: errors.New("--group must not be empty")}
		}
		if len(g) > 64 {
			return &UsageError{Err: fmt.Errorf("group %q is longer than the 64 characters a certificate O may have", g)}
		}
	}
	return nil
}

// Run enrols the user and writes the kubeconfig. On any failure after
// the request was created (approving, waiting, or writing the kubeconfig)
// the request is deleted again, as [enroller.discard] says.
func (o *userAddOptions) Run(ctx context.Context, streams IOStreams) error {
	e, err := o.enroller(streams)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := e.enroll(ctx, enrollRequest{
		kind:        "user",
		subject:     pkix.Name{CommonName: o.name, Organization: o.groups},
		signerName:  certv1.KubeAPIServerClientSignerName,
		usages:      []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		extKeyUsage: x509.ExtKeyUsageClientAuth,
		keyAlg:      o.alg,
		expiration:  o.expiration,
		approve:     o.approve,
		approver:    "kubepki user add",
	})
	if err != nil {
		return err
	}
	if err := o.writeKubeconfig(o.name, res); err != nil {
		// The key is gone with this process: the issued request is of
		// no use to anyone and is deleted like an unissued one.
		return e.discard(res.obj, fmt.Errorf("%w; no file was written", err))
	}
	_, err = fmt.Fprintf(streams.Out, "user %q added: wrote %s (certificate from CertificateSigningRequest %s, valid until %s)\n",
		o.name, o.output, res.csrName, res.cert.NotAfter.UTC().Format(time.RFC3339))
	return err
}
