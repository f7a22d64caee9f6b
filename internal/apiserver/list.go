package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/kubepki/kubepki/internal/storage"
)

// selector is a parsed labelSelector and fieldSelector.
type selector struct {
	labels labels.Selector
	fields fields.Selector
	// name is set when the field selector pins metadata.name to one value.
	name string
}

// csrFields are the field selector keys CSRs support, as on kube-apiserver.
func csrFields(csr *certv1.CertificateSigningRequest) fields.Set {
	return fields.Set{"metadata.name": csr.Name, "spec.signerName": csr.Spec.SignerName}
}

func parseSelector(q url.Values) (selector, error) {
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
		if req.Field == "metadata.name" && (req.Operator == selection.Equals || req.Operator == selection.DoubleEquals) {
			sel.name = req.Value
		}
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
	if limit <= 0 || limit > s.cfg.MaxListPage {
		limit = s.cfg.MaxListPage
	}
	if sel.name != "" && cont == "" {
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
	var page listPage
	// Fetch store pages no larger than what is still wanted, so that the
	// store's continue token is always exactly where this answer ends.
	for {
		res, err := s.store.List(ctx, csrPrefix, storage.ListOptions{Limit: limit - int64(len(page.items)), Continue: cont})
		if err != nil {
			return listPage{}, storageError(err, "")
		}
		if page.revision == 0 {
			page.revision = res.Revision
		}
		for _, kv := range res.Items {
			csr, err := decodeStored(kv)
			if err != nil {
				return listPage{}, err
			}
			if sel.matches(csr) {
				page.items = append(page.items, *csr)
			}
		}
		cont = res.Continue
		if cont == "" || int64(len(page.items)) >= limit {
			page.cont = cont
			if sel.empty() {
				page.remaining = res.RemainingItemCount
			}
			return page, nil
		}
		if err := ctx.Err(); err != nil {
			return listPage{}, err
		}
	}
}

// listParams are the query parameters of a list.
type listParams struct {
	sel   selector
	limit int64 // 0: the server's page cap
	cont  string
}

func parseList(q url.Values) (listParams, error) {
	sel, err := parseSelector(q)
	if err != nil {
		return listParams{}, err
	}
	p := listParams{sel: sel, cont: q.Get("continue")}
	if v := q.Get("limit"); v != "" {
		p.limit, err = strconv.ParseInt(v, 10, 64)
		if err != nil || p.limit < 0 {
			return listParams{}, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q: use a non-negative integer", v))
		}
	}
	if v := q.Get("resourceVersion"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return listParams{}, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: use an integer", v))
		}
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
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.list(r.Context(), p.sel, p.limit, p.cont)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if out.kind == outputTable {
		tbl, err := s.csrTable(r, page.items, strconv.FormatInt(page.revision, 10), page.cont, true)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		tbl.RemainingItemCount = page.remaining
		s.writeEncoded(w, r, out, http.StatusOK, tbl)
		return
	}
	s.writeEncoded(w, r, out, http.StatusOK, csrList(page))
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
	dry, err := dryRun(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dry = dry || len(opts.DryRun) > 0
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
