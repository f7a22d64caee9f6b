package controller

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"slices"
)

// pkixSubject returns the request's subject as Go parsed it: CN, O, OU, C,
// L, ST, street, postal code and serial number, as kube-controller-manager
// copies them. Attributes Go does not model are not carried over.
func pkixSubject(req *x509.CertificateRequest) pkix.Name {
	s := req.Subject
	return pkix.Name{
		CommonName:         s.CommonName,
		SerialNumber:       s.SerialNumber,
		Organization:       slices.Clone(s.Organization),
		OrganizationalUnit: slices.Clone(s.OrganizationalUnit),
		Country:            slices.Clone(s.Country),
		Locality:           slices.Clone(s.Locality),
		Province:           slices.Clone(s.Province),
		StreetAddress:      slices.Clone(s.StreetAddress),
		PostalCode:         slices.Clone(s.PostalCode),
	}
}
