package apiserver

import (
	"fmt"
	"strconv"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Metadata-only answers (Accept: …;as=PartialObjectMetadata[List];
// g=meta.k8s.io;v=v1), which client-go's metadata client and metadata
// informers ask for: the objects' metadata without spec or status.

var (
	partialGVK     = metaGV.WithKind("PartialObjectMetadata")
	partialListGVK = metaGV.WithKind("PartialObjectMetadataList")
)

// partialMetadata is the metadata of csr alone. It shares csr's maps and
// slices, so csr must not change while the answer is encoded.
func partialMetadata(csr *certv1.CertificateSigningRequest) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{Kind: partialGVK.Kind, APIVersion: partialGVK.GroupVersion().String()},
		ObjectMeta: csr.ObjectMeta,
	}
}

// partialMetadataList is page's metadata alone.
func partialMetadataList(page listPage) *metav1.PartialObjectMetadataList {
	list := &metav1.PartialObjectMetadataList{
		TypeMeta: metav1.TypeMeta{Kind: partialListGVK.Kind, APIVersion: partialListGVK.GroupVersion().String()},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(page.revision, 10), Continue: page.cont,
			RemainingItemCount: page.remaining},
		Items: make([]metav1.PartialObjectMetadata, len(page.items)),
	}
	for i := range page.items {
		list.Items[i] = *partialMetadata(&page.items[i])
	}
	return list
}

// errListForm and errObjectForm refuse a metadata form that does not fit
// the answer, with kube-apiserver's words.
var (
	errListForm = fmt.Errorf("%w: you requested PartialObjectMetadataList, but the requested object is not a list (*v1.CertificateSigningRequest)",
		errNotAcceptable)
	errObjectForm = fmt.Errorf("%w: you requested PartialObjectMetadata, but the requested object is a list (*v1.CertificateSigningRequestList)",
		errNotAcceptable)
)
