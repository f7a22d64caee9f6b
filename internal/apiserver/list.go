package apiserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kubepki/kubepki/internal/storage"
)

// selector is a parsed labelSelector and fieldSelector.
type selector struct {
	labels labels.Selector
	fields fields.Selector
	// name is set when the field selector pins metadata.name to one
	// valid name, the one authorization checked (see listSelectorName):
	// the list then reads that one key.
	name string
}

// csrFields are the field selector keys CSRs support, as on kube-apiserver.
func csrFields(csr *certv1.CertificateSigningRequest) fields.Set {
	return fields.Set{"metadata.name": csr.Name, "spec.signerName": csr.Spec.SignerName}
}

func parseSelector(q url.Values) (selector, error) {
	// The first of repeated parameters counts, as in kube-apiserver and
	// listSelectorName.
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("invalid fieldSelector: %v", err))
	}
	sel := selector{labels: ls, fields: fs}
	for _, req := range fs.Requirements() {
		switch req.Field {
		case "metadata.name", "spec.signerName":
		default:
			return selector{}, apierrors.NewBadRequest(fmt.Sprintf(
				"field label not supported: %s (use metadata.name or spec.signerName)", req.Field))
		}
	}
	if name, ok := fs.RequiresExactMatch("metadata.name"); ok && validateNameSegment(name) == "" {
		sel.name = name
	}
	return sel, nil
}

func (sel selector) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (sel selector) matches(csr *certv1.CertificateSigningRequest) bool {
	return sel.labels.Matches(labels.Set(csr.Labels)) && sel.fields.Matches(csrFields(csr))
}

// listPage is one answer of a list.
type listPage struct {
	items     []certv1.CertificateSigningRequest
	revision  int64
	cont      string
	remaining *int64
}

// list reads up to limit matching CSRs (0: the server's page cap).
func (s *Server) list(ctx context.Context, sel selector, limit int64, cont string) (listPage, error) {
	return s.listAt(ctx, sel, limit, cont, 0)
}

// listAt is list reading the store as it was at revision rev (0: now).
func (s *Server) listAt(ctx context.Context, sel selector, limit int64, cont string, rev int64) (listPage, error) {
	// A client that pages (limit) gets pages of MaxListPageBytes; one
	// that did not ask to page expects everything in one answer, as
	// kube-apiserver gives it, and many ignore a continue token: it gets
	// unlimitedListFactor times more before one.
	budget := s.cfg.MaxListPageBytes
	if limit <= 0 {
		budget *= unlimitedListFactor
	}
	if limit <= 0 || limit > s.cfg.MaxListPage {
		limit = s.cfg.MaxListPage
	}
	if sel.name != "" && cont == "" && rev == 0 {
		// One key: read it instead of scanning.
		rev, err := s.store.CurrentRevision(ctx)
		if err != nil {
			return listPage{}, storageError(err, "")
		}
		page := listPage{revision: rev}
		csr, kv, err := s.getStored(ctx, sel.name)
		if apierrors.IsNotFound(err) {
			return page, nil
		}
		if err != nil {
			return listPage{}, err
		}
		if kv.Revision > page.revision {
			page.revision = kv.Revision
		}
		if sel.matches(csr) {
			page.items = append(page.items, *csr)
		}
		return page, nil
	}
	if !isLoopback(ctx) {
		// Reading a page holds its objects twice or more (stored, decoded,
		// encoded): a few at a time bound the memory of many lists.
		select {
		case s.lists <- struct{}{}:
			defer func() { <-s.lists }()
		case <-ctx.Done():
			return listPage{}, context.Cause(ctx)
		}
	}
	var (
		page    listPage
		read    int64 // stored bytes read for this answer
		largest int64 // the largest object read
		// The first store page is small; later ones hold as many objects
		// as the byte budget left allows at the largest size seen.
		chunk int64 = listFirstChunk
	)
	// Fetch store pages no larger than what is still wanted, so that the
	// store's continue token is always exactly where this answer ends.
	for {
		opts := storage.ListOptions{Limit: min(limit-int64(len(page.items)), chunk), Continue: cont}
		if cont == "" {
			opts.Revision = rev
		}
		res, err := s.store.List(ctx, csrPrefix, opts)
		if err != nil {
			return listPage{}, storageError(err, "")
		}
		if page.revision == 0 {
			page.revision = res.Revision
		}
		for i, kv := range res.Items {
			csr, err := decodeStored(kv)
			if err != nil {
				return listPage{}, err
			}
			if sel.matches(csr) {
				page.items = append(page.items, *csr)
			}
			read += int64(len(kv.Value))
			largest = max(largest, int64(len(kv.Value)))
			if read >= budget && i < len(res.Items)-1 {
				// The budget ends inside the store's page: continue
				// right after this object, at the same revision.
				page.cont = storage.EncodeContinue(res.Revision, kv.Key)
				if sel.empty() {
					n := int64(len(res.Items) - 1 - i)
					if res.RemainingItemCount != nil {
						n += *res.RemainingItemCount
					}
					page.remaining = &n
				}
				return page, nil
			}
		}
		cont = res.Continue
		if cont == "" || int64(len(page.items)) >= limit || read >= budget {
			page.cont = cont
			if sel.empty() {
				page.remaining = res.RemainingItemCount
			}
			return page, nil
		}
		if err := ctx.Err(); err != nil {
			return listPage{}, err
		}
		chunk = max(1, (budget-read)/max(largest, 1))
	}
}

// unlimitedListFactor is how much more a list without limit may read
// than a page of a paged one.
const unlimitedListFactor = 16

// listFirstChunk is the size of a list's first store page, before the
// size of the objects is known.
const listFirstChunk = 16

// listParams are the query parameters of a list.
type listParams struct {
	sel   selector
	limit int64 // 0: the server's page cap
	cont  string
	// exact is the revision of resourceVersionMatch=Exact; minRev the
	// revision the answer may not be older than (NotOlderThan, or a
	// resourceVersion without a match). Zero for neither.
	exact, minRev int64
}

// revisionWait is how long a list waits for the store to reach a
// resourceVersion it has not reached, as kube-apiserver's watch cache
// waits, before answering 504.
const revisionWait = 3 * time.Second

// listFor runs the list p asks for: once the store has reached p.minRev
// or p.exact, at p.exact when set.
func (s *Server) listFor(ctx context.Context, p listParams) (listPage, error) {
	if wait := max(p.minRev, p.exact); wait > 0 && p.cont == "" {
		if err := s.awaitRevision(ctx, wait); err != nil {
			return listPage{}, err
		}
	}
	return s.listAt(ctx, p.sel, p.limit, p.cont, p.exact)
}

// awaitRevision waits, for at most revisionWait, until the store's
// revision is at least rev.
func (s *Server) awaitRevision(ctx context.Context, rev int64) error {
	deadline := time.Now().Add(revisionWait)
	for {
		cur, err := s.store.CurrentRevision(ctx)
		if err != nil {
			return storageError(err, "")
		}
		if cur >= rev {
			return nil
		}
		if time.Now().After(deadline) {
			return tooLargeRevisionError(rev, cur)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tooLargeRevisionError is kube-apiserver's 504 for a resourceVersion
// newer than the store's, which client-go retries.
func tooLargeRevisionError(rev, cur int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", rev, cur), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

func parseList(q url.Values) (listParams, error) {
	sel, err := parseSelector(q)
	if err != nil {
		return listParams{}, err
	}
	p := listParams{sel: sel, cont: q.Get("continue")}
	limit, _, err := queryInt64(q, "limit")
	if err != nil {
		return listParams{}, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q: use an integer", q.Get("limit")))
	}
	// As kube-apiserver's storage: a limit of 0 or less is no limit.
	p.limit = max(limit, 0)
	// A list ignores timeoutSeconds, but, as in kube-apiserver, only once
	// it is an integer.
	if _, _, err := queryInt64(q, "timeoutSeconds"); err != nil {
		return listParams{}, err
	}
	var rev int64
	v := q.Get("resourceVersion")
	if v != "" {
		if rev, err = parseResourceVersion(v); err != nil {
			return listParams{}, err
		}
	}
	// kube-apiserver's ValidateListOptions, then the match's meaning.
	match := metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))
	matchPath := field.NewPath("resourceVersionMatch")
	var errs field.ErrorList
	switch match {
	case "":
		p.minRev = rev // "0" means any: the current state is one
	case metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan:
		if v == "" {
			errs = append(errs, field.Forbidden(matchPath, "resourceVersionMatch is forbidden unless resourceVersion is provided"))
		}
		if p.cont != "" {
			errs = append(errs, field.Forbidden(matchPath, "resourceVersionMatch is forbidden when continue is provided"))
		}
		if match == metav1.ResourceVersionMatchExact && v == "0" {
			errs = append(errs, field.Forbidden(matchPath, `resourceVersionMatch "exact" is forbidden for resourceVersion "0"`))
		}
		if match == metav1.ResourceVersionMatchExact {
			p.exact = rev
		} else {
			p.minRev = rev
		}
	default:
		errs = append(errs, field.NotSupported(matchPath, match,
			[]string{string(metav1.ResourceVersionMatchExact), string(metav1.ResourceVersionMatchNotOlderThan), ""}))
	}
	if _, ok := queryFirst(q, "sendInitialEvents"); ok {
		errs = append(errs, field.Forbidden(field.NewPath("sendInitialEvents"), "sendInitialEvents is forbidden for list"))
	}
	if len(errs) > 0 {
		return listParams{}, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	return p, nil
}

// csrList is the CertificateSigningRequestList of page.
func csrList(page listPage) *certv1.CertificateSigningRequestList {
	list := &certv1.CertificateSigningRequestList{
		TypeMeta: metav1.TypeMeta{Kind: csrListGVK.Kind, APIVersion: csrListGVK.GroupVersion().String()},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(page.revision, 10), Continue: page.cont,
			RemainingItemCount: page.remaining},
		Items: page.items,
	}
	if list.Items == nil {
		list.Items = []certv1.CertificateSigningRequest{}
	}
	return list
}

func (s *Server) listCSRs(w http.ResponseWriter, r *http.Request) {
	p, err := parseList(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.codecs.negotiate(r, true, false)
	if err == nil && out.kind == outputMetadata {
		err = errObjectForm
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.listFor(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch out.kind {
	case outputTable:
		tbl, err := s.csrTable(r, page.items, strconv.FormatInt(page.revision, 10), page.cont, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		tbl.RemainingItemCount = page.remaining
		s.writeEncoded(w, r, out, http.StatusOK, tbl)
	case outputMetadataList:
		s.writeEncoded(w, r, out, http.StatusOK, partialMetadataList(page))
	default:
		s.writeEncoded(w, r, out, http.StatusOK, csrList(page))
	}
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, st *reqState) {
	sel, err := parseSelector(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dry := len(opts.DryRun) > 0
	deleted := &certv1.CertificateSigningRequestList{
		TypeMeta: metav1.TypeMeta{Kind: csrListGVK.Kind, APIVersion: csrListGVK.GroupVersion().String()},
		Items:    []certv1.CertificateSigningRequest{},
	}
	cont := ""
	for {
		page, err := s.list(r.Context(), sel, 0, cont)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for i := range page.items {
			csr, _, err := s.delete(r.Context(), page.items[i].Name, nil, dry)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			deleted.Items = append(deleted.Items, *csr)
		}
		cont = page.cont
		if cont == "" || dry {
			break
		}
	}
	st.auditName = fmt.Sprintf("%d objects", len(deleted.Items))
	rev, err := s.store.CurrentRevision(r.Context())
	if err == nil {
		deleted.ResourceVersion = strconv.FormatInt(rev, 10)
	}
	s.writeObject(w, r, http.StatusOK, deleted)
}

// parseResourceVersion parses a resourceVersion query value as
// kube-apiserver does: any unsigned 64-bit integer. The store's revisions
// are int64, so a larger value is one it never reaches; it becomes the
// largest int64, which is waited for and then answered as too large, as
// any other future version is.
func parseResourceVersion(v string) (int64, error) {
	u, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: use a non-negative integer", v))
	}
	return int64(min(u, math.MaxInt64)), nil
}
