package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/storage"
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

// pendingIndexPage is the page size of the index's list, as informers
// page: the objects of a page are decoded at once.
const pendingIndexPage = 500

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
// then follows the store's events from the list's revision. A watch that
// ends (its timeout, or a burst it fell behind on) is started again from
// the last revision it delivered, as informers do; only an error (410
// Gone included) makes it list again, so that a busy server does not
// read its whole store over and over. A failure is logged once, not at
// every retry while the store is down.
func (s *Server) runPendingIndex(ctx context.Context) {
	failing := false
	var rev int64 // 0: list first
	for ctx.Err() == nil {
		var err error
		rev, err = s.followPending(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failing = false
			continue
		}
		if !failing {
			s.log.WarnContext(ctx, "pending CSR index: list or watch failed; retrying every second", "error", err.Error())
			failing = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(pendingIndexRetry):
		}
	}
}

// followPending lists every CSR into the index when rev is 0, then
// watches from rev (or from the list's revision) until the watch ends. It
// returns the last revision the watch delivered, or 0 with the error
// that makes the next round list again.
func (s *Server) followPending(ctx context.Context, rev int64) (int64, error) {
	all := selector{labels: everything(), fields: everythingFields()}
	if rev == 0 {
		var err error
		if rev, err = s.listPending(ctx); err != nil {
			return 0, err
		}
	}
	wctx, ow, err := s.openWatch(ctx, pendingIndexUser, watchParams{sel: all, resourceVersion: rev, timeout: s.cfg.MaxWatchDuration})
	if err != nil {
		return 0, err
	}
	defer ow.stop()
	sink := &pendingSink{x: s.pending, rev: rev}
	// The error itself, not a client's Status of it: statusOf would log
	// it as a request's store fault.
	s.stream(wctx, ow, sink, func(err error) *metav1.Status {
		if sink.failed == nil {
			sink.failed = err
		}
		return &metav1.Status{Message: err.Error()}
	})
	if sink.failed != nil {
		return 0, sink.failed
	}
	return sink.rev, nil
}

// listPending reads every CSR into the index and returns the revision to
// watch from. Each page is read at the store's current revision, not at
// the first page's as a client's list is: a list at a past revision reads
// the store's history for every key changed since, which on a busy store
// of 100,000 CSRs costs far more CPU and memory than the list itself. The
// watch from the first page's revision then replays every change since,
// and each event sets a CSR's state as it is after it, so the index ends
// as the store is.
func (s *Server) listPending(ctx context.Context) (int64, error) {
	owner := map[string]string{}
	var first int64
	for cont := ""; ; {
		res, err := s.store.List(ctx, csrPrefix, storage.ListOptions{Limit: pendingIndexPage, Continue: cont})
		if err != nil {
			return 0, err
		}
		if first == 0 {
			first = res.Revision
		}
		for _, kv := range res.Items {
			csr, err := decodeStored(kv)
			if err != nil {
				return 0, err
			}
			if counted(csr) {
				owner[csr.Name] = csr.Spec.Username
			}
		}
		if res.Continue == "" {
			break
		}
		_, last, err := storage.DecodeContinue(csrPrefix, res.Continue)
		if err != nil {
			return 0, err
		}
		now, err := s.store.CurrentRevision(ctx)
		if err != nil {
			return 0, err
		}
		cont = storage.EncodeContinue(now, last)
	}
	s.pending.replace(owner)
	return first, nil
}

// pendingSink feeds a watch's events to the index and remembers the last
// revision delivered.
type pendingSink struct {
	x      *pendingIndex
	rev    int64
	failed error
}

func (k *pendingSink) event(typ watch.EventType, csr *certv1.CertificateSigningRequest, _ *sharedEvent) error {
	k.x.set(csr.Name, csr.Spec.Username, typ != watch.Deleted && counted(csr))
	if rv, err := strconv.ParseInt(csr.ResourceVersion, 10, 64); err == nil && rv > k.rev {
		k.rev = rv
	}
	return nil
}

func (k *pendingSink) bookmark(rev int64, _ bool) error {
	k.rev = max(k.rev, rev)
	return nil
}

func (k *pendingSink) failure(st *metav1.Status) {
	if k.failed == nil {
		k.failed = &apierrors.StatusError{ErrStatus: *st}
	}
}

func (*pendingSink) flush() {}

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
