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
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
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
	cs, err := f.clientset()
	if err != nil {
		return nil, err
	}
	return cs.CertificatesV1().CertificateSigningRequests(), nil
}

// clientset returns the API client for the flags. When no kubeconfig file
// exists where the flags and $KUBECONFIG point, the error says so
// ([missingKubeconfig]) instead of what client-go makes of no files.
func (f *clientFlags) clientset() (*kubernetes.Clientset, error) {
	rc, err := f.clientConfig().ClientConfig()
	if err != nil {
		if merr := missingKubeconfig(f.kubeconfig); merr != nil {
			return nil, merr
		}
		return nil, fmt.Errorf("load client configuration: %w; pass --kubeconfig and --context, or check $KUBECONFIG", err)
	}
	if rc.UserAgent == "" {
		rc.UserAgent = userAgent()
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create API client: %w", err)
	}
	return cs, nil
}

// missingKubeconfig returns an error naming where kubeconfig files were
// looked for when none of them exists, as kubectl's "Config not found:
// PATH" does: explicitPath (--kubeconfig) if set, else every path of
// $KUBECONFIG, else ~/.kube/config. It returns nil when one exists (or
// cannot be checked: the loader's own error then says why).
func missingKubeconfig(explicitPath string) error {
	if explicitPath != "" {
		if _, err := os.Stat(explicitPath); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("kubeconfig not found: %s (--kubeconfig) does not exist; check the path, or pass the admin kubeconfig of the cluster", explicitPath)
		}
		return nil
	}
	paths := kubeconfig.LoadingRules("").Precedence
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		return fmt.Errorf("kubeconfig not found: no file exists at %s ($KUBECONFIG); set KUBECONFIG to an existing kubeconfig file or pass --kubeconfig FILE", strings.Join(paths, ", "))
	}
	return fmt.Errorf("kubeconfig not found: $KUBECONFIG is not set and %s does not exist; pass --kubeconfig FILE (such as the admin.conf of kubepki init) or set KUBECONFIG", strings.Join(paths, ", "))
}

// enrollRequest is one certificate to obtain through the Certificates API.
type enrollRequest struct {
	// kind names the request in messages and CSR names: "user", "node".
	kind string
	// name is the CertificateSigningRequest's object name; see
	// [enrollRequest.chooseName]. If empty, enroll chooses one.
	name       string
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
	// reviews asks the API server what the identity may do; nil skips
	// the checks of [enroller.preflight].
	reviews authzclient.SelfSubjectAccessReviewInterface
	// poll makes waits GET every pollInterval from the start, because
	// the identity may not watch (found by preflight).
	poll bool
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
// A request it created is deleted again when approving or waiting fails,
// times out or is interrupted, and when its certificate is refused
// ([enroller.discard]), whose error says so; the error then names the
// refused certificate by serial and issuer.
func (e *enroller) enroll(ctx context.Context, req enrollRequest) (*enrollResult, error) {
	key, err := pki.GenerateKey(req.keyAlg)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", req.keyAlg, err)
	}
	der, err := pki.CreateCSR(key, req.subject, req.sans)
	if err != nil {
		return nil, err
	}
	if err := req.chooseName(); err != nil {
		return nil, err
	}
	name := req.name
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
			return nil, waitEnded("%s while creating CertificateSigningRequest %s; no file was written; the request may exist on the server: check with \"kubepki csr get %s\", delete it with \"kubepki csr delete %s\" and run the command again", stopReason(ctx), name, name, name)
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
		return fail(fmt.Errorf("CertificateSigningRequest %s: parse issued certificate: %w; no file was written", name, err))
	}
	leaf := certs[0]
	// The refused certificate is named by serial and issuer, since its
	// request is deleted with the rest.
	refused := fmt.Sprintf("serial %s, issuer %q", leaf.SerialNumber.Text(16), leaf.Issuer.String())
	if !pki.PublicKeysEqual(leaf.PublicKey, key.Public()) {
		return fail(fmt.Errorf("CertificateSigningRequest %s: the issued certificate (%s) is for a different public key than the one this command generated; refusing it (the signer or the object is not trustworthy); no file was written", name, refused))
	}
	if leaf.Subject.CommonName != req.subject.CommonName || !sameGroups(leaf.Subject.Organization, req.subject.Organization) {
		return fail(fmt.Errorf("CertificateSigningRequest %s: the issued certificate (%s) is for CN=%q O=%q, but CN=%q O=%q was requested; refusing it; no file was written", name, refused, leaf.Subject.CommonName, leaf.Subject.Organization, req.subject.CommonName, req.subject.Organization))
	}
	if len(e.roots) > 0 {
		if err := pki.VerifyChain(leaf, e.roots, certs[1:], req.extKeyUsage, e.now()); err != nil {
			return fail(fmt.Errorf("CertificateSigningRequest %s: the issued certificate (%s) does not chain to the cluster CA: %w; no file was written; pass --client-ca-file if the API server trusts another CA for client certificates", name, refused, err))
		}
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return fail(fmt.Errorf("%w; no file was written", err))
	}
	// The leaf first, then any intermediates the signer returned, so that
	// the API server can build the chain.
	var certPEM []byte
	for _, c := range certs {
		certPEM = append(certPEM, pki.MarshalCertificatePEM(c)...)
	}
	return &enrollResult{obj: created, csrName: name, key: key, keyPEM: keyPEM, cert: leaf, certPEM: certPEM}, nil
}

// sameGroups reports whether a and b hold the same groups, in any order:
// the API server reads a certificate's O values as a set of groups, and
// a signer may write them in another order than the request's.
func sameGroups(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// chooseName sets r.name with [csrObjectName] unless it is set.
func (r *enrollRequest) chooseName() error {
	if r.name != "" {
		return nil
	}
	name, err := csrObjectName(r.kind, r.subject.CommonName)
	if err != nil {
		return fmt.Errorf("choose CSR name: %w", err)
	}
	r.name = name
	return nil
}

// permission is one thing the identity must be allowed to do for an
// enrolment, as a SelfSubjectAccessReview asks it.
type permission struct {
	attrs authorizationv1.ResourceAttributes
	// alt, if set, suffices too: a signer's "DOMAIN/*" for its name, as
	// the API server's CSR approval check accepts either.
	alt *authorizationv1.ResourceAttributes
	// approval marks the permissions only --approve needs.
	approval bool
}

// String names the permission as "kubectl auth can-i" takes it:
// "get certificatesigningrequests.certificates.k8s.io/NAME".
func (p permission) String() string {
	a := p.attrs
	s := a.Verb + " " + a.Resource + "." + a.Group
	if a.Subresource != "" {
		s += "/" + a.Subresource
	}
	if a.Name != "" {
		s += fmt.Sprintf(" %q", a.Name)
	}
	if p.alt != nil {
		s += fmt.Sprintf(" (or %q)", p.alt.Name)
	}
	return s
}

// csrPermission returns the permission to verb the request named name
// (subresource may be empty).
func csrPermission(verb, subresource, name string) permission {
	return permission{attrs: authorizationv1.ResourceAttributes{Verb: verb, Group: certv1.GroupName, Resource: "certificatesigningrequests", Subresource: subresource, Name: name}}
}

// permissions returns what the identity needs for req, whose name is
// chosen: create it, get it and, with approve, update its approval and
// approve its signer (KEP-1513's "approve" verb on signers, by name or
// "DOMAIN/*"). Watch is asked separately: without it the wait polls.
func (req *enrollRequest) permissions() []permission {
	ps := []permission{
		csrPermission("create", "", ""),
		csrPermission("get", "", req.name),
	}
	if req.approve {
		signer := authorizationv1.ResourceAttributes{Verb: "approve", Group: certv1.GroupName, Resource: "signers", Name: req.signerName}
		p := permission{attrs: signer, approval: true}
		if domain, _, ok := strings.Cut(req.signerName, "/"); ok {
			alt := signer
			alt.Name = domain + "/*"
			p.alt = &alt
		}
		approval := csrPermission("update", "approval", req.name)
		approval.approval = true
		ps = append(ps, approval, p)
	}
	return ps
}

// preflight asks the API server, with SelfSubjectAccessReviews, whether
// the identity may do what reqs need (their names chosen), before any of
// them is created, so that an identity that may create requests but not
// read or approve them leaves no pending request behind for an approver
// to approve by mistake. It returns an error naming every missing
// permission. When the identity may get but not watch the requests,
// waits poll from the start. A review the server refuses, does not serve
// or cannot evaluate makes preflight give up silently: the command then
// runs as without it, and the API answers each step.
func (e *enroller) preflight(ctx context.Context, reqs []*enrollRequest) error {
	if e.reviews == nil {
		return nil
	}
	var read, approval []string
	for _, req := range reqs {
		for _, p := range req.permissions() {
			allowed, known := e.canI(ctx, p.attrs)
			if known && !allowed && p.alt != nil {
				allowed, known = e.canI(ctx, *p.alt)
			}
			if !known {
				return e.preflightStopped(ctx)
			}
			missing := &read
			if p.approval {
				missing = &approval
			}
			if !allowed && !slices.Contains(*missing, p.String()) {
				*missing = append(*missing, p.String())
			}
		}
	}
	if len(read)+len(approval) > 0 {
		var lacks, next []string
		if len(read) > 0 {
			lacks = append(lacks, fmt.Sprintf("may not %s, so it could not obtain the certificate (a request it may create but not read would be left pending, for an approver to approve by mistake)", strings.Join(read, ", ")))
			next = append(next, "use a kubeconfig whose identity may create, get and watch certificatesigningrequests (check with \"kubectl auth can-i get certificatesigningrequests\")")
		}
		if len(approval) > 0 {
			lacks = append(lacks, fmt.Sprintf("may not %s, which --approve needs", strings.Join(approval, ", ")))
			next = append(next, "run without --approve and have an approver run \"kubepki csr approve NAME\" (or \"kubectl certificate approve NAME\") while this command waits")
		}
		return fmt.Errorf("the identity of your kubeconfig %s; nothing was created; %s", strings.Join(lacks, ", and "), strings.Join(next, ", and "))
	}
	for _, req := range reqs {
		watch := csrPermission("watch", "", req.name)
		allowed, known := e.canI(ctx, watch.attrs)
		if !known {
			return e.preflightStopped(ctx)
		}
		if !allowed {
			fmt.Fprintf(e.errOut, "warning: the identity of your kubeconfig may not %s; checking the request with get every %s instead\n", watch, pollInterval)
			e.poll = true
			break
		}
	}
	return nil
}

// preflightStopped is what preflight returns when a review got no
// answer: ctx's end, or nil to go on without the checks.
func (e *enroller) preflightStopped(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitEnded("%s while checking permissions; nothing was created; run the command again", stopReason(ctx))
	}
	return nil
}

// canI asks one SelfSubjectAccessReview. known is false when the server
// gave no usable answer: the review failed (refused, not served, no
// connection) or the authorizer reported an evaluation error without
// allowing it.
func (e *enroller) canI(ctx context.Context, attrs authorizationv1.ResourceAttributes) (allowed, known bool) {
	r, err := e.reviews.Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, false
	}
	if r.Status.Allowed {
		return true, true
	}
	return false, r.Status.EvaluationError == ""
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
	return waitEnded("%s while approving CertificateSigningRequest %s%s; no file was written; %s", stopReason(ctx), name, cause, next)
}

// errWaitEnded is matched (errors.Is) by the errors of a wait that
// ended without a certificate: timed out or interrupted.
var errWaitEnded = errors.New("stopped waiting")

// waitEndedError is an error that matches [errWaitEnded] but reads as its
// own message alone, a sentence that ends with what to do next.
type waitEndedError struct{ msg string }

func (e *waitEndedError) Error() string        { return e.msg }
func (e *waitEndedError) Is(target error) bool { return target == errWaitEnded }

// waitEnded returns an *ExitError (status 1) with the formatted message
// that matches [errWaitEnded].
func waitEnded(format string, args ...any) error {
	return &ExitError{Code: 1, Err: &waitEndedError{msg: fmt.Sprintf(format, args...)}}
}

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
	w := &waiter{e: e, created: created, rv: created.ResourceVersion, poll: e.poll, retrier: e.retrier("waiting for CertificateSigningRequest " + created.Name)}
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
	return waitEnded("timed out: CertificateSigningRequest %s was approved but not issued; check that a signer for %s runs (kube-controller-manager with --cluster-signing-cert-file, or kubepki serve with a signing CA); no file was written; run the command again once it does", created.Name, created.Spec.SignerName)
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
		return waitEnded("timed out waiting for %s to be approved and issued; no file was written; have it approved sooner (or pass --approve) and run the command again, with a longer --timeout if needed", what)
	}
	return waitEnded("interrupted while waiting for %s; no file was written; run the command again to start over", what)
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

// apiError formats an API Status error as kubectl does, as a
// [*serverError]: "Error from server (Reason): message". Other errors
// (nil too) pass through, and so does an error that is one already.
func apiError(err error) error {
	if _, ok := errors.AsType[*serverError](err); ok {
		return err
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		reason := string(st.Reason)
		if reason == "" {
			reason = fmt.Sprint(st.Code)
		}
		return &serverError{reason: reason, err: err}
	}
	return err
}

// serverError is an API server's answer (a Status) as kubectl prints it.
// When a command's error is one (or all of an [errors.Join] are), main
// prints it without its "error: " prefix, as kubectl does.
type serverError struct {
	reason string
	err    error
}

func (e *serverError) Error() string {
	return fmt.Sprintf("Error from server (%s): %v", e.reason, e.err)
}
func (e *serverError) Unwrap() error { return e.err }

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
		if merr := missingKubeconfig(o.client.kubeconfig); merr != nil {
			return merr
		}
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	ctxName := o.client.context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[ctxName]
	if !ok {
		if merr := missingKubeconfig(o.client.kubeconfig); merr != nil {
			return merr
		}
		if ctxName == "" {
			return errors.New("the kubeconfig has no current-context; pass --context NAME or --kubeconfig with an admin kubeconfig")
		}
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

// checkOutputPath fails early, before anything is requested, where the
// final write ([pki.WriteFile], [pki.WriteFileNew] or
// [cluster.WriteFiles]) would fail: path's directory is missing or not a
// directory, path exists and force is not set, path is a symlink (even a
// dangling one), folder or other non-regular file, which no write
// replaces even with force ([pki.ErrUnsafePath]), path cannot be looked
// at, or no file can be created in its directory (tried with a temporary
// file, removed at once, as the write's own temporary file would be
// made). what names the file in the unsafe-path message ("kubeconfig").
func checkOutputPath(path string, force bool, what string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write %s: directory %s does not exist; create it first", path, dir)
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil && !force:
		return fmt.Errorf("%s already exists; choose another path or pass --force to replace it", path)
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("write %s: write %s: %w; remove it or choose another path", what, path, pki.ErrUnsafePath)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w; choose a folder you may write to", path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// enroller returns an enroller for the options' API server.
func (o *enrollOptions) enroller(streams IOStreams) (*enroller, error) {
	cs, err := o.client.clientset()
	if err != nil {
		return nil, err
	}
	client := cs.CertificatesV1().CertificateSigningRequests()
	if len(o.roots) == 0 {
		fmt.Fprintf(streams.ErrOut, "warning: cluster %q has no certificate-authority; the issued certificate's chain is not verified\n", o.clusterName)
	}
	return &enroller{client: client, reviews: cs.AuthorizationV1().SelfSubjectAccessReviews(), roots: o.roots, errOut: streams.ErrOut, progress: isTerminal(streams.ErrOut), now: time.Now}, nil
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
without "watch" it polls with "get". Before creating anything, the command
asks the API server (SelfSubjectAccessReview) whether your identity may do
all that (and, with --approve, update certificatesigningrequests/approval and
"approve" the signer), and stops, naming what is missing, if not; a server
that does not answer such reviews is used as before.

SECURITY NOTICE: this issues a credential for NAME with the given groups.
--group system:masters is refused (the break-glass credential is the
super-admin.conf that init wrote); kubeadm:cluster-admins and names or groups
starting with "system:" are issued with a warning saying what they grant. With
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
	if err := checkNotMasters(o.groups); err != nil {
		return err
	}
	if strings.HasPrefix(o.name, nodeUserPrefix) {
		return &UsageError{Err: fmt.Errorf("user name %q is a node identity; use \"kubepki node add\"", o.name)}
	}
	if o.output == "" {
		return &UsageError{Err: fmt.Errorf("user name %q has no letter or digit to name the default kubeconfig file; pass -o FILE", o.name)}
	}
	return o.complete()
}

// validateIdentity checks a user name and groups as the API server's
// certificate authenticator reads them: the CN is the user name and each
// O a group, taken byte for byte. Each must be non-empty valid UTF-8, at
// most 64 bytes (RFC 5280's ub-common-name and ub-organization-name), with
// no leading or trailing white space (which the name would keep, so that
// RBAC bindings for the trimmed name would not match) and no control
// characters. The first problem is returned as a [*UsageError].
func validateIdentity(name string, groups []string) error {
	if strings.TrimSpace(name) == "" {
		return &UsageError{Err: errors.New("the user name must not be empty")}
	}
	if err := checkIdentityText("user name", name); err != nil {
		return err
	}
	if len(name) > 64 {
		return &UsageError{Err: fmt.Errorf("user name %q is longer than the 64 characters a certificate CN may have", name)}
	}
	for _, g := range groups {
		if strings.TrimSpace(g) == "" {
			return &UsageError{Err: errors.New("--group must not be empty")}
		}
		if err := checkIdentityText("group", g); err != nil {
			return err
		}
		if len(g) > 64 {
			return &UsageError{Err: fmt.Errorf("group %q is longer than the 64 characters a certificate O may have", g)}
		}
	}
	return nil
}

// checkIdentityText refuses, as a [*UsageError], a user name or group
// (what) that is not valid UTF-8, begins or ends with white space, or
// holds a control character.
func checkIdentityText(what, s string) error {
	if !utf8.ValidString(s) {
		return &UsageError{Err: fmt.Errorf("%s %q is not valid UTF-8", what, s)}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return &UsageError{Err: fmt.Errorf("%s %q begins or ends with white space, which the certificate would keep: the API server would see %q, which no RBAC binding for %q matches; remove it", what, s, s, strings.TrimSpace(s))}
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return &UsageError{Err: fmt.Errorf("%s %q holds the control character %U; names and groups may hold printable characters only", what, s, r)}
		}
	}
	return nil
}

// Groups with a fixed meaning in every kubeadm cluster (kubernetes-pki
// reference §2.1 and §2.4).
const (
	// mastersGroup is bound to cluster-admin by a binding RBAC cannot
	// remove, and kube-apiserver authorizes it before RBAC runs.
	mastersGroup = "system:masters"
	// clusterAdminsGroup is bound to cluster-admin by kubeadm.
	clusterAdminsGroup = "kubeadm:cluster-admins"
	// reservedPrefix starts the names Kubernetes keeps for itself.
	reservedPrefix = "system:"
)

// checkNotMasters refuses group system:masters: a certificate in it is a
// super-user credential that no RBAC change takes away and that cannot be
// revoked, which is what super-admin.conf is for.
func checkNotMasters(groups []string) error {
	if slices.Contains(groups, mastersGroup) {
		return &UsageError{Err: fmt.Errorf("refusing --group %s: its members pass every authorization check before RBAC is asked, so the certificate would be a super-user credential that no role or binding can take away and that cannot be revoked until it expires; the break-glass credential of a cluster is the super-admin.conf that \"kubepki init\" (and kubeadm init) wrote; for an administrator use --group %s, which RBAC binds to cluster-admin and can unbind", mastersGroup, clusterAdminsGroup)}
	}
	return nil
}

// identityWarnings returns one warning for the user name and for each
// group that carries more than its name says: kubeadm:cluster-admins, and
// the names and groups under "system:", which Kubernetes reserves and
// grants permissions to by default. Each says what the identity gets.
func identityWarnings(name string, groups []string) []string {
	var ws []string
	if w := reservedUserName(name); w != "" {
		ws = append(ws, fmt.Sprintf("user name %q %s", name, w))
	}
	for _, g := range groups {
		if w := privilegedGroup(g); w != "" {
			ws = append(ws, fmt.Sprintf("group %q %s", g, w))
		}
	}
	return ws
}

// reservedUserName says what a certificate for user name gets when the
// name is one Kubernetes reserves, or returns "".
func reservedUserName(name string) string {
	if !strings.HasPrefix(name, reservedPrefix) {
		return ""
	}
	rest := strings.TrimPrefix(name, reservedPrefix)
	switch {
	case strings.HasPrefix(rest, "serviceaccount:"):
		if ns, sa, ok := strings.Cut(strings.TrimPrefix(rest, "serviceaccount:"), ":"); ok && ns != "" && sa != "" {
			return fmt.Sprintf("is the identity of service account %q in namespace %q: the certificate gets every permission RBAC grants that service account, whose bindings match by this user name, for as long as it is valid, even after the service account is deleted", sa, ns)
		}
		return "is in the form of service-account identities (system:serviceaccount:NAMESPACE:NAME): RBAC bindings to such a service account would match it"
	case name == "system:anonymous":
		return "is the name of unauthenticated requests: the certificate gets everything granted to anonymous access, and audit logs show its requests as anonymous"
	case name == "system:kube-controller-manager", name == "system:kube-scheduler":
		return fmt.Sprintf("is the identity of a control-plane component: the certificate gets what the default ClusterRoleBinding %s grants (and the component's other default roles)", name)
	case name == "system:kube-proxy":
		return "is kube-proxy's identity: the certificate gets what the default ClusterRoleBinding system:node-proxier grants"
	case strings.HasPrefix(rest, "kube-"):
		return "is in the form of Kubernetes components' identities (system:kube-*): the certificate gets whatever default and other RBAC bindings grant that component"
	}
	return "starts with \"system:\", which Kubernetes reserves for its own identities: the certificate gets whatever RBAC grants that name, default bindings included"
}

// privilegedGroup says what a certificate in group g gets when g is
// kubeadm:cluster-admins or a group Kubernetes reserves, or returns "".
func privilegedGroup(g string) string {
	switch {
	case g == clusterAdminsGroup:
		return "is bound to cluster-admin by kubeadm (ClusterRoleBinding kubeadm:cluster-admins): the certificate has full control of the cluster until it expires, and cannot be revoked"
	case !strings.HasPrefix(g, reservedPrefix):
		return ""
	case g == "system:nodes":
		return "is the kubelets' group: the certificate gets every permission bound to it, such as having node client certificates approved at once (selfnodeclient); for a kubelet use \"kubepki node add\""
	case g == "system:bootstrappers" || strings.HasPrefix(g, "system:bootstrappers:"):
		return "is the group of bootstrap tokens: in kubeadm clusters its members may create node client requests that are approved at once (nodeclient), so the certificate can obtain kubelet credentials for any node"
	case g == "system:serviceaccounts":
		return "is the group of all service accounts: the certificate gets every permission granted to all of them"
	case strings.HasPrefix(g, "system:serviceaccounts:"):
		return fmt.Sprintf("is the group of the service accounts of namespace %q: the certificate gets every permission granted to all of them", strings.TrimPrefix(g, "system:serviceaccounts:"))
	case g == "system:authenticated":
		return "is added by the API server to every authenticated user anyway: it gives nothing more, but it is reserved"
	case g == "system:unauthenticated":
		return "is the group of anonymous requests: the certificate gets everything granted to unauthenticated access"
	case g == "system:monitoring":
		return "is bound to ClusterRole system:monitoring: the certificate may read the API server's metrics and health endpoints"
	}
	return "starts with \"system:\", which Kubernetes reserves for its own groups: the certificate gets whatever RBAC grants that group, default bindings included"
}

// Run enrols the user and writes the kubeconfig. Before the request is
// created, it checks the identity's permissions ([enroller.preflight])
// and warns on stderr about a privileged identity ([identityWarnings]).
// On any failure after the request was created (approving, waiting, or
// writing the kubeconfig) the request is deleted again, as
// [enroller.discard] says.
func (o *userAddOptions) Run(ctx context.Context, streams IOStreams) error {
	e, err := o.enroller(streams)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req := enrollRequest{
		kind:        "user",
		subject:     pkix.Name{CommonName: o.name, Organization: o.groups},
		signerName:  certv1.KubeAPIServerClientSignerName,
		usages:      []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		extKeyUsage: x509.ExtKeyUsageClientAuth,
		keyAlg:      o.alg,
		expiration:  o.expiration,
		approve:     o.approve,
		approver:    "kubepki user add",
	}
	if err := req.chooseName(); err != nil {
		return err
	}
	if err := e.preflight(ctx, []*enrollRequest{&req}); err != nil {
		return err
	}
	for _, w := range identityWarnings(o.name, o.groups) {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
	}
	res, err := e.enroll(ctx, req)
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
