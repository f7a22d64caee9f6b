package apiserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/certificates"
)

// DefaultMaxPendingPerUser is how many pending CSRs (neither approved nor
// denied) one requester outside system:masters may have before its
// creates are refused. Every
// authenticated user may create CSRs, and a pending one is kept for 24
// hours, so without a bound one user could fill the store's disk (an
// object may be 1.5 MiB) within minutes. A node or a person has one or
// two pending at a time; a bootstrap token shared by many joining nodes,
// or an automation creating CSRs for many workloads, has as many as are
// waiting for approval.
const DefaultMaxPendingPerUser = 500

// pendingIndexUser is the identity the pending index's own watch counts
// against.
const pendingIndexUser = "kubepki:pending-index"

// pendingIndexRetry is how long the index waits before it lists and
// watches again after its watch ended.
const pendingIndexRetry = time.Second

// pendingIndex counts the pending CSRs of each requester (spec.username),
// from a list and a watch of the store as every replica sees it. It is
// eventually consistent: creates racing each other may pass the limit by
// the number one user has in flight, and until its first list is done
// the index refuses nothing.
type pendingIndex struct {
	mu     sync.Mutex
	owner  map[string]string // name → spec.username, pending CSRs only
	count  map[string]int    // spec.username → pending CSRs
	synced bool
}

func newPendingIndex() *pendingIndex {
	return &pendingIndex{owner: map[string]string{}, count: map[string]int{}}
}

// counted reports whether csr counts against its requester's limit:
// pending (neither approved nor denied yet) and not requested by a member
// of system:masters, who has no limit (so the index does not hold what
// it never checks).
func counted(csr *certv1.CertificateSigningRequest) bool {
	return !certificates.IsApproved(csr) && !certificates.IsDenied(csr) && !slices.Contains(csr.Spec.Groups, GroupMasters)
}

// pendingOf returns user's pending CSRs and whether the index is synced.
func (x *pendingIndex) pendingOf(user string) (int, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count[user], x.synced
}

// set records the CSR name of user as pending, or as not pending.
func (x *pendingIndex) set(name, user string, pending bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.owner[name]; ok {
		if pending && old == user {
			return
		}
		x.count[old]--
		if x.count[old] <= 0 {
			delete(x.count, old)
		}
		delete(x.owner, name)
	}
	if pending {
		x.owner[name] = user
		x.count[user]++
	}
}

// replace makes owner (name → spec.username of every pending CSR) the
// whole state.
func (x *pendingIndex) replace(owner map[string]string) {
	count := map[string]int{}
	for _, u := range owner {
		count[u]++
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.owner, x.count, x.synced = owner, count, true
}

// runPendingIndex keeps the index until ctx ends: it lists every CSR,
// then follows the store's events from the list's revision, and lists
// again whenever that watch ends (410 Gone included).
// A failure is logged once, not at every retry while the store is down.
func (s *Server) runPendingIndex(ctx context.Context) {
	failing := false
	for ctx.Err() == nil {
		err := s.followPending(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			s.log.WarnContext(ctx, "pending CSR index: list or watch failed; retrying every second", "error", err.Error())
			failing = true
		case err == nil:
			failing = false
		}
		select {
		case <-ctx.Done():
		case <-time.After(pendingIndexRetry):
		}
	}
}

// followPending lists every CSR into the index, then watches from there
// until the watch ends.
func (s *Server) followPending(ctx context.Context) error {
	all := selector{labels: everything(), fields: everythingFields()}
	owner := map[string]string{}
	var rev int64
	for page, cont := 0, ""; page == 0 || cont != ""; page++ {
		l, err := s.list(ctx, all, 0, cont)
		if err != nil {
			return err
		}
		if page == 0 {
			rev = l.revision
		}
		for i := range l.items {
			if csr := &l.items[i]; counted(csr) {
				owner[csr.Name] = csr.Spec.Username
			}
		}
		cont = l.cont
	}
	s.pending.replace(owner)
	wctx, ow, err := s.openWatch(ctx, pendingIndexUser, watchParams{sel: all, resourceVersion: rev, timeout: s.cfg.MaxWatchDuration})
	if err != nil {
		return err
	}
	defer ow.stop()
	var failed error
	// The error itself, not a client's Status of it: statusOf would log
	// it as a request's store fault.
	s.stream(wctx, ow, pendingSink{x: s.pending, failed: &failed}, func(err error) *metav1.Status {
		failed = err
		return &metav1.Status{Message: err.Error()}
	})
	return failed
}

// pendingSink feeds a watch's events to the index.
type pendingSink struct {
	x      *pendingIndex
	failed *error
}

func (k pendingSink) event(typ watch.EventType, csr *certv1.CertificateSigningRequest, _ *sharedEvent) error {
	k.x.set(csr.Name, csr.Spec.Username, typ != watch.Deleted && counted(csr))
	return nil
}

func (pendingSink) bookmark(int64, bool) error { return nil }

func (k pendingSink) failure(st *metav1.Status) {
	if *k.failed == nil {
		*k.failed = &apierrors.StatusError{ErrStatus: *st}
	}
}

func (pendingSink) flush() {}

// checkPendingQuota refuses a create by u beyond MaxPendingPerUser.
// Members of system:masters, whom no authorization check limits either,
// are not counted against it.
func (s *Server) checkPendingQuota(u *UserInfo, name string) error {
	if s.pending == nil || u.IsMember(GroupMasters) {
		return nil
	}
	user := u.Name
	n, synced := s.pending.pendingOf(user)
	if !synced || n < s.cfg.MaxPendingPerUser {
		return nil
	}
	return apierrors.NewForbidden(csrResource, name, fmt.Errorf(
		"user %q has %d pending CertificateSigningRequests, the most one user may have (kubepki serve --max-pending-csrs-per-user); "+
			"delete some, or have them approved or denied", user, n))
}
