package controller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/inspect"
	"github.com/kubepki/kubepki/internal/pki"
)

// ConditionIssuing is the condition the signer writes through the status
// subresource to reserve a CSR before using the CA key: status True with
// reason ReasonReserved while reserved, then status False with reason
// ReasonIssued in the same write that stores the certificate.
// Approval updates cannot change it (see certificates.ConditionIssuing).
const ConditionIssuing = certificates.ConditionIssuing

// Reasons of the Issuing condition.
const (
	ReasonReserved = "Reserved"
	ReasonIssued   = "Issued"
)

// shortTTL is kube-controller-manager's threshold below which NotAfter is
// not reduced by the backdate.
const shortTTL = 8 * time.Hour

// minDuration is the shortest certificate the signer issues (10 minutes),
// as kube-controller-manager does for tiny expirationSeconds.
const minDuration = 10 * time.Minute

// maxStoreAttempts bounds the retries of storing a signed certificate when
// unrelated updates (labels, annotations) race with it.
const maxStoreAttempts = 5

// pendingCert is a certificate signed for a reservation and not yet
// stored.
type pendingCert struct {
	serial   string
	pem      []byte
	notAfter time.Time
	started  time.Time
	// req is the parsed request, for the audit line; nil means parse again.
	req *x509.CertificateRequest
}

// wantsSigning reports whether csr is one this Manager may sign: a signer
// with a CA, approved and not denied, not failed, no certificate yet.
func (m *Manager) wantsSigning(csr *certv1.CertificateSigningRequest) bool {
	_, ok := m.signers[csr.Spec.SignerName]
	return ok && certificates.IsApproved(csr) && !certificates.IsFailed(csr) && !certificates.HasCertificate(csr)
}

func (m *Manager) dropPending(uid types.UID) {
	m.mu.Lock()
	delete(m.pending, uid)
	m.mu.Unlock()
}

func (m *Manager) pendingFor(uid types.UID) (pendingCert, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[uid]
	return p, ok
}

// reservationMessage and parseReservation encode the holder and serial in
// the Issuing condition's message.
func reservationMessage(holder, serial string) string {
	return "reserved by " + holder + " for serial " + serial
}

func parseReservation(msg string) (holder, serial string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "reserved by ")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, " for serial ")
}

// sign handles one CSR for the signer (kubernetes-pki §4.11, security.md
// §6): check the signer policy (a violation becomes a Failed condition),
// reserve the CSR, sign, and store the certificate under the
// reservation's resourceVersion.
func (m *Manager) sign(ctx context.Context, csr *certv1.CertificateSigningRequest) (time.Duration, error) {
	if !m.wantsSigning(csr) {
		return 0, nil
	}
	csr, err := m.whole(ctx, csr)
	if err != nil || csr == nil || !m.wantsSigning(csr) {
		return 0, err
	}
	ca := m.signers[csr.Spec.SignerName]

	if p, ok := m.pendingFor(csr.UID); ok {
		// A certificate signed earlier was not stored. The cache may not
		// show the reservation yet, so decide on a fresh read.
		fresh, err := m.client.Get(ctx, csr.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			m.discard(csr, p, "csr deleted")
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("read %s: %w", csr.Name, err)
		case fresh.UID == csr.UID && !certificates.HasCertificate(fresh) && m.holds(fresh, p.serial):
			return 0, m.storeSigned(ctx, fresh, p)
		}
		m.discard(csr, p, "reservation no longer ours")
		if fresh.UID != csr.UID || !m.wantsSigning(fresh) {
			return 0, nil
		}
		csr = fresh
	}

	if c, ok := certificates.Condition(csr, ConditionIssuing); ok && c.Status == corev1.ConditionTrue {
		holder, _, _ := parseReservation(c.Message)
		// A fresh reservation is respected: by another signer while it
		// works, by this one because the cache is only behind its own
		// completed store. Under an Elector another holder was an earlier
		// leader, which stopped before this term began.
		age := m.now().Sub(c.LastUpdateTime.Time)
		if age < m.reserve && (holder == m.identity || m.elector == nil) {
			return m.reserve - age, nil
		}
		m.log.Warn("taking over a reservation", "csr", csr.Name, "uid", csr.UID, "holder", holder, "age", age.String())
	}

	req, err := certificates.ParseRequest(csr.Spec.Request)
	if err == nil {
		err = certificates.CheckSignerPolicy(csr.Spec.SignerName, req, csr.Spec.Usages)
	}
	if err != nil {
		return 0, m.fail(ctx, csr, err)
	}

	tmpl, err := m.template(ca, csr, req)
	if err != nil {
		// The CA cannot sign now (expired, not yet valid): retry later,
		// as kube-controller-manager does, rather than fail the CSR.
		return 0, fmt.Errorf("prepare certificate for %s: %w", csr.Name, err)
	}
	// Pre-issuance lint (security.md §6): the exact TBSCertificate is
	// built and checked, unsigned, before anything is reserved or signed;
	// the CA key later signs those very bytes.
	unsigned, err := ca.Prepare(req.PublicKey, tmpl)
	if err != nil {
		return 0, fmt.Errorf("prepare certificate for %s: %w", csr.Name, err)
	}
	if err := m.lint(csr, unsigned.Cert); err != nil {
		return 0, m.fail(ctx, csr, err)
	}
	serial := tmpl.SerialNumber.Text(16)

	started := m.now()
	reserved, err := m.reserveCSR(ctx, csr, serial)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err // leadership lost: never sign after that
	}
	cert, err := unsigned.Sign()
	if err != nil {
		return 0, fmt.Errorf("sign %s: %w", csr.Name, err)
	}
	p := pendingCert{serial: serial, pem: pki.MarshalCertificatePEM(cert), notAfter: cert.NotAfter, started: started, req: req}
	m.mu.Lock()
	m.pending[csr.UID] = p
	m.mu.Unlock()
	m.log.Info("csr signed", "csr", csr.Name, "uid", csr.UID, "signer", csr.Spec.SignerName, "serial", serial)
	return 0, m.storeSigned(ctx, reserved, p)
}

// storeSignedTimeout bounds storeSigned once its context has ended.
const storeSignedTimeout = 10 * time.Second

// storeSigned stores a certificate signed in this term even if the term
// (leadership, or the process) ends meanwhile: the reservation's
// resourceVersion precondition still fences the write, and a next leader
// then finds the certificate instead of taking the reservation over and
// signing again. It gives up storeSignedTimeout after ctx ends.
func (m *Manager) storeSigned(ctx context.Context, reserved *certv1.CertificateSigningRequest, p pendingCert) error {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(storeSignedTimeout, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	defer stop()
	return m.store(sctx, reserved, p)
}

// template builds the certificate for csr: subject and SANs from the
// request, never its extensions; key usages exactly from spec.usages
// (already filtered by the signer policy); CA:FALSE; lifetime the smaller
// of expirationSeconds (at least 10 minutes) and the signing duration,
// back-dated by pki.Backdate for lifetimes of 8 hours or more, capped at
// the CA's NotAfter.
func (m *Manager) template(ca *pki.CA, csr *certv1.CertificateSigningRequest, req *x509.CertificateRequest) (*x509.Certificate, error) {
	ku, ekus, err := certificates.KeyUsages(csr.Spec.Usages)
	if err != nil {
		return nil, err
	}
	ttl := Duration(csr.Spec.ExpirationSeconds, m.duration)
	now := m.now()
	notBefore := now.Add(-pki.Backdate)
	notAfter := notBefore.Add(ttl)
	if ttl < shortTTL {
		notAfter = now.Add(ttl)
	}
	signing := *ca
	signing.Now = m.now
	tmpl, err := signing.Template(req.PublicKey, pki.CertOptions{
		Subject: pkixSubject(req),
		SANs: pki.SANs{
			DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
			URIs: req.URIs, EmailAddresses: req.EmailAddresses,
		},
		ExtKeyUsage: ekus,
		NotBefore:   notBefore,
		NotAfter:    notAfter,
	})
	if err != nil {
		return nil, err
	}
	// pki defaults an empty KeyUsage for leaves; the CSR's usages decide
	// here, exactly as kube-controller-manager maps them.
	tmpl.KeyUsage = ku &^ (x509.KeyUsageCertSign | x509.KeyUsageCRLSign)
	tmpl.IsCA = false
	tmpl.ExtraExtensions = nil
	return tmpl, nil
}

// lintRoles is the role kubepki lint checks each built-in signer's
// certificates as.
var lintRoles = map[string]string{
	certv1.KubeAPIServerClientSignerName:        inspect.RoleUser,
	certv1.KubeAPIServerClientKubeletSignerName: inspect.RoleKubeletClient,
	certv1.KubeletServingSignerName:             inspect.RoleKubeletServing,
}

// LintError is a certificate that the signer policy allowed but that
// breaks kubepki lint's error-level certificate rules; it is refused
// before the CA key signs it.
type LintError struct {
	Findings []string
}

func (e *LintError) Error() string {
	return "refusing to issue a certificate that breaks lint rules: " + strings.Join(e.Findings, "; ")
}

// lint runs kubepki lint's certificate rules on cert, unsigned, as
// issued for csr's signer; an error-level finding is a *LintError.
func (m *Manager) lint(csr *certv1.CertificateSigningRequest, cert *x509.Certificate) error {
	var blocking []string
	for _, f := range inspect.LintCertificate(cert, inspect.Context{
		Now:        m.now(),
		WarnWithin: -1,
		Role:       lintRoles[csr.Spec.SignerName],
	}) {
		if f.Severity == inspect.SeverityError {
			blocking = append(blocking, f.Rule+": "+f.Message)
		}
	}
	if len(blocking) > 0 {
		return &LintError{Findings: blocking}
	}
	return nil
}

// Duration is the lifetime the signer gives a CSR: expirationSeconds when
// set and shorter than max (but at least 10 minutes), else max.
func Duration(expirationSeconds *int32, max time.Duration) time.Duration {
	if expirationSeconds == nil {
		return max
	}
	d := time.Duration(*expirationSeconds) * time.Second
	if d < minDuration {
		d = minDuration
	}
	if d < max {
		return d
	}
	return max
}

// reserveCSR writes the Issuing condition through the status subresource
// with csr's resourceVersion as precondition and returns the stored
// object. Only one writer can win; the others get a conflict and retry
// from the newer object.
func (m *Manager) reserveCSR(ctx context.Context, csr *certv1.CertificateSigningRequest, serial string) (*certv1.CertificateSigningRequest, error) {
	r := csr.DeepCopy()
	setCondition(r, certv1.CertificateSigningRequestCondition{
		Type: ConditionIssuing, Status: corev1.ConditionTrue, Reason: ReasonReserved,
		Message: reservationMessage(m.identity, serial), LastUpdateTime: metav1.NewTime(m.now()),
	})
	out, err := m.client.UpdateStatus(ctx, r, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("reserve %s: %w", csr.Name, err)
	}
	if out.UID != csr.UID {
		return nil, fmt.Errorf("reserve %s: server answered with uid %s, want %s", csr.Name, out.UID, csr.UID)
	}
	return out, nil
}

// store writes p's certificate into the reserved CSR, with its
// resourceVersion (and uid) as precondition. On a conflict it reads the
// CSR again and retries only while the same CSR (same uid) still carries
// this Manager's reservation for p's serial and no certificate; otherwise
// p is discarded, never written into another object.
func (m *Manager) store(ctx context.Context, reserved *certv1.CertificateSigningRequest, p pendingCert) error {
	cur := reserved
	for range maxStoreAttempts {
		upd := cur.DeepCopy()
		upd.Status.Certificate = p.pem
		setCondition(upd, certv1.CertificateSigningRequestCondition{
			Type: ConditionIssuing, Status: corev1.ConditionFalse, Reason: ReasonIssued,
			Message: "issued serial " + p.serial, LastUpdateTime: metav1.NewTime(m.now()),
		})
		_, err := m.client.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			m.dropPending(reserved.UID)
			m.audit(reserved, p)
			if m.metrics.Signed != nil {
				m.metrics.Signed(reserved.Spec.SignerName, m.now().Sub(p.started))
			}
			return nil
		}
		if apierrors.IsNotFound(err) {
			m.discard(reserved, p, "csr deleted")
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("store certificate for %s: %w", reserved.Name, err)
		}
		cur, err = m.client.Get(ctx, reserved.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			m.discard(reserved, p, "csr deleted")
			return nil
		}
		if err != nil {
			return fmt.Errorf("store certificate for %s: %w", reserved.Name, err)
		}
		if cur.UID != reserved.UID {
			m.discard(reserved, p, "csr recreated")
			return nil
		}
		if certificates.HasCertificate(cur) {
			m.discard(reserved, p, "csr already has a certificate")
			return nil
		}
		if !m.holds(cur, p.serial) {
			m.discard(reserved, p, "reservation taken over")
			return nil
		}
	}
	return fmt.Errorf("store certificate for %s: %d conflicting updates in a row", reserved.Name, maxStoreAttempts)
}

// holds reports whether csr carries this Manager's live reservation for
// serial.
func (m *Manager) holds(csr *certv1.CertificateSigningRequest, serial string) bool {
	c, ok := certificates.Condition(csr, ConditionIssuing)
	if !ok || c.Status != corev1.ConditionTrue {
		return false
	}
	holder, s, ok := parseReservation(c.Message)
	return ok && holder == m.identity && s == serial
}

// discard forgets a signed certificate that must never be stored.
func (m *Manager) discard(csr *certv1.CertificateSigningRequest, p pendingCert, why string) {
	m.dropPending(csr.UID)
	m.log.Warn("signed certificate discarded", "csr", csr.Name, "uid", csr.UID, "serial", p.serial, "why", why)
}

// fail marks csr Failed with reason SignerValidationFailure and the rule's
// message (kubernetes-pki §4.10).
func (m *Manager) fail(ctx context.Context, csr *certv1.CertificateSigningRequest, cause error) error {
	f := csr.DeepCopy()
	f.Status.Conditions = append(f.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateFailed, Status: corev1.ConditionTrue,
		Reason: certificates.ReasonSignerValidationFailure, Message: cause.Error(),
		LastUpdateTime: metav1.NewTime(m.now()),
	})
	if _, err := m.client.UpdateStatus(ctx, f, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark %s failed: %w", csr.Name, err)
	}
	m.log.Info("csr failed", "csr", csr.Name, "uid", csr.UID, "signer", csr.Spec.SignerName,
		"requester", csr.Spec.Username, "reason", certificates.ReasonSignerValidationFailure, "message", cause.Error())
	if m.metrics.Failed != nil {
		m.metrics.Failed(csr.Spec.SignerName)
	}
	var pe *certificates.SignerPolicyError
	if !errors.As(cause, &pe) {
		m.log.Warn("csr failed outside signer policy", "csr", csr.Name, "err", cause)
	}
	return nil
}

// audit writes the issuance record: which CSR, who asked, who approved,
// serial, names and lifetime; never key material.
func (m *Manager) audit(csr *certv1.CertificateSigningRequest, p pendingCert) {
	approval, _ := certificates.Condition(csr, certv1.CertificateApproved)
	args := []any{
		"csr", csr.Name, "uid", csr.UID, "signer", csr.Spec.SignerName,
		"requester", csr.Spec.Username, "groups", csr.Spec.Groups,
		"approval", approval.Reason, "serial", p.serial, "notAfter", p.notAfter.UTC().Format(time.RFC3339),
	}
	req := p.req
	if req == nil {
		req, _ = certificates.ParseRequest(csr.Spec.Request)
	}
	if req != nil {
		args = append(args, "subject", req.Subject.String(), "dns", req.DNSNames, "ips", fmt.Sprint(req.IPAddresses),
			"emails", req.EmailAddresses, "uris", fmt.Sprint(req.URIs))
	}
	m.log.Info("certificate issued", args...)
}

// setCondition replaces the condition of c's type, or appends c.
func setCondition(csr *certv1.CertificateSigningRequest, c certv1.CertificateSigningRequestCondition) {
	for i := range csr.Status.Conditions {
		if csr.Status.Conditions[i].Type == c.Type {
			csr.Status.Conditions[i] = c
			return
		}
	}
	csr.Status.Conditions = append(csr.Status.Conditions, c)
}
