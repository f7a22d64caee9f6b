package apiserver

import (
	"fmt"
	"net/http"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// csrColumns are kube-apiserver's printer columns for CSRs.
var csrColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	{Name: "SignerName", Type: "string", Description: certv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"]},
	{Name: "Requestor", Type: "string", Description: "Name of the user that created the request"},
	{Name: "RequestedDuration", Type: "string", Description: certv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"]},
	{Name: "Condition", Type: "string", Description: certv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]},
}

// conditionColumn derives the CONDITION column from condition types.
func conditionColumn(csr *certv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certv1.CertificateApproved:
			approved = true
		case certv1.CertificateDenied:
			denied = true
		case certv1.CertificateFailed:
			failed = true
		}
	}
	s := "Pending"
	switch {
	case denied:
		s = "Denied"
	case approved:
		s = "Approved"
	}
	if failed {
		s += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		s += ",Issued"
	}
	return s
}

func ageColumn(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// includeObject reads the includeObject parameter (None, Metadata, Object).
func includeObject(r *http.Request) (metav1.IncludeObjectPolicy, error) {
	switch v := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); v {
	case "":
		return metav1.IncludeMetadata, nil
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("invalid includeObject %q: use None, Metadata or Object", v))
	}
}

// csrTable renders CSRs as a server-side Table.
func (s *Server) csrTable(r *http.Request, items []certv1.CertificateSigningRequest, rv, cont string, columns bool) (*metav1.Table, error) {
	policy, err := includeObject(r)
	if err != nil {
		return nil, err
	}
	now := s.now()
	tbl := &metav1.Table{
		TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: metaGV.String()},
		ListMeta: metav1.ListMeta{ResourceVersion: rv, Continue: cont},
		Rows:     make([]metav1.TableRow, 0, len(items)),
	}
	if columns {
		tbl.ColumnDefinitions = csrColumns
	}
	for i := range items {
		csr := &items[i]
		signer, duration := "<none>", "<none>"
		if csr.Spec.SignerName != "" {
			signer = csr.Spec.SignerName
		}
		if csr.Spec.ExpirationSeconds != nil {
			duration = durationColumn(*csr.Spec.ExpirationSeconds)
		}
		row := metav1.TableRow{Cells: []any{
			csr.Name, ageColumn(csr.CreationTimestamp, now), signer, csr.Spec.Username, duration, conditionColumn(csr),
		}}
		switch policy {
		case metav1.IncludeMetadata:
			row.Object = runtime.RawExtension{Object: &metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: metaGV.String()},
				ObjectMeta: csr.ObjectMeta,
			}}
		case metav1.IncludeObject:
			c := csr.DeepCopy()
			setCSRTypeMeta(c)
			row.Object = runtime.RawExtension{Object: c}
		}
		tbl.Rows = append(tbl.Rows, row)
	}
	return tbl, nil
}

func durationColumn(seconds int32) string {
	return duration.HumanDuration(time.Duration(seconds) * time.Second)
}
