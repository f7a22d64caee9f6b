package inspect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Extension OIDs (RFC 5280 §4.2).
var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// shownExtensions are the extensions [Certificate] shows by field.
var shownExtensions = map[string]bool{
	"2.5.29.14": true, "2.5.29.35": true, "2.5.29.15": true, "2.5.29.37": true,
	"2.5.29.17": true, "2.5.29.19": true,
}

// describeCertificate returns the description of cert at time now. The
// role, identity and signer are filled in by the caller.
func describeCertificate(cert *x509.Certificate, now time.Time) *Certificate {
	d := &Certificate{
		Subject:            formatName(cert.Subject),
		Issuer:             formatName(cert.Issuer),
		SelfSigned:         isSelfSigned(cert),
		Serial:             formatSerial(cert.SerialNumber),
		Version:            cert.Version,
		NotBefore:          cert.NotBefore.UTC(),
		NotAfter:           cert.NotAfter.UTC(),
		PublicKey:          describeKey(cert.PublicKey),
		SignatureAlgorithm: cert.SignatureAlgorithm.String(),
		KeyUsage:           keyUsageNames(cert.KeyUsage),
		ExtKeyUsage:        extKeyUsageNames(cert.ExtKeyUsage, cert.UnknownExtKeyUsage),
		DNSNames:           cert.DNSNames,
		IPAddresses:        ipStrings(cert),
		EmailAddresses:     cert.EmailAddresses,
		SubjectKeyID:       formatHex(cert.SubjectKeyId),
		AuthorityKeyID:     formatHex(cert.AuthorityKeyId),
		Identity:           Identity{User: cert.Subject.CommonName, Groups: cert.Subject.Organization},
	}
	for _, u := range cert.URIs {
		d.URIs = append(d.URIs, u.String())
	}
	sum := sha256.Sum256(cert.Raw)
	d.SHA256 = hex.EncodeToString(sum[:])
	d.Status, d.TimeLeft = validity(cert.NotBefore, cert.NotAfter, now)
	for _, ext := range cert.Extensions {
		switch {
		case ext.Id.Equal(oidBasicConstraints):
			bc := &BasicConstraints{CA: cert.IsCA, Critical: ext.Critical}
			if cert.MaxPathLen > 0 || cert.MaxPathLenZero {
				n := cert.MaxPathLen
				bc.MaxPathLen = &n
			}
			d.BasicConstraints = bc
		case ext.Id.Equal(oidKeyUsage):
			d.KeyUsageCritical = ext.Critical
		case !shownExtensions[ext.Id.String()]:
			d.OtherExtensions = append(d.OtherExtensions, ext.Id.String())
		}
	}
	return d
}

func ipStrings(cert *x509.Certificate) []string {
	var out []string
	for _, ip := range cert.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// validity returns the status and the time left at now.
func validity(notBefore, notAfter, now time.Time) (status, left string) {
	switch {
	case now.Before(notBefore):
		return "not yet valid", "not valid for another " + formatDuration(notBefore.Sub(now))
	case now.After(notAfter):
		return "expired", "expired " + formatDuration(now.Sub(notAfter)) + " ago"
	}
	return "valid", formatDuration(notAfter.Sub(now))
}

// formatDuration renders d as days and hours, or hours and minutes under a
// day, or minutes and seconds under an hour ("364d 23h", "5h 3m", "59s").
func formatDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	days := int64(d / (24 * time.Hour))
	h := int64(d/time.Hour) % 24
	m := int64(d/time.Minute) % 60
	s := int64(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// attributeNames are openssl's short names for subject attributes.
var attributeNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.17": "postalCode",
	"1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID",
}

// formatName renders a distinguished name in certificate order, the way
// openssl's default name output does ("CN = x, O = y" without spaces).
func formatName(name pkix.Name) string {
	parts := make([]string, 0, len(name.Names))
	for _, atv := range name.Names {
		key, ok := attributeNames[atv.Type.String()]
		if !ok {
			key = atv.Type.String()
		}
		parts = append(parts, key+"="+fmt.Sprint(atv.Value))
	}
	return strings.Join(parts, ", ")
}

// formatSerial renders a serial number in openssl's colon-separated hex;
// negative serials keep their sign.
func formatSerial(n *big.Int) string {
	if n == nil {
		return ""
	}
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
	}
	return sign + formatHex(new(big.Int).Abs(n).Bytes())
}

func formatHex(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

var keyUsageList = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "Digital Signature"},
	{x509.KeyUsageContentCommitment, "Non Repudiation"},
	{x509.KeyUsageKeyEncipherment, "Key Encipherment"},
	{x509.KeyUsageDataEncipherment, "Data Encipherment"},
	{x509.KeyUsageKeyAgreement, "Key Agreement"},
	{x509.KeyUsageCertSign, "Certificate Sign"},
	{x509.KeyUsageCRLSign, "CRL Sign"},
	{x509.KeyUsageEncipherOnly, "Encipher Only"},
	{x509.KeyUsageDecipherOnly, "Decipher Only"},
}

func keyUsageNames(ku x509.KeyUsage) []string {
	var out []string
	for _, k := range keyUsageList {
		if ku&k.bit != 0 {
			out = append(out, k.name)
		}
	}
	return out
}

// extKeyUsageNames are the certificates.k8s.io usage names of EKUs
// (kubernetes-pki.md §4.4).
var extKeyUsageName = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:                        "any",
	x509.ExtKeyUsageServerAuth:                 "server auth",
	x509.ExtKeyUsageClientAuth:                 "client auth",
	x509.ExtKeyUsageCodeSigning:                "code signing",
	x509.ExtKeyUsageEmailProtection:            "email protection",
	x509.ExtKeyUsageIPSECEndSystem:             "ipsec end system",
	x509.ExtKeyUsageIPSECTunnel:                "ipsec tunnel",
	x509.ExtKeyUsageIPSECUser:                  "ipsec user",
	x509.ExtKeyUsageTimeStamping:               "timestamping",
	x509.ExtKeyUsageOCSPSigning:                "ocsp signing",
	x509.ExtKeyUsageMicrosoftServerGatedCrypto: "microsoft sgc",
	x509.ExtKeyUsageNetscapeServerGatedCrypto:  "netscape sgc",
}

func extKeyUsageNames(ekus []x509.ExtKeyUsage, unknown []asn1.ObjectIdentifier) []string {
	var out []string
	for _, e := range ekus {
		name, ok := extKeyUsageName[e]
		if !ok {
			name = fmt.Sprintf("unknown (%d)", e)
		}
		out = append(out, name)
	}
	for _, oid := range unknown {
		out = append(out, oid.String())
	}
	return out
}

// describeKey returns the public facts of pub.
func describeKey(pub crypto.PublicKey) Key {
	var k Key
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k.Algorithm, k.Bits = "RSA", p.N.BitLen()
	case *ecdsa.PublicKey:
		k.Algorithm, k.Bits, k.Curve = "ECDSA", p.Curve.Params().BitSize, p.Curve.Params().Name
	case ed25519.PublicKey:
		k.Algorithm, k.Bits = "Ed25519", 256
	case nil:
		k.Algorithm = "unknown"
		return k
	default:
		k.Algorithm = "unknown"
	}
	if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
		sum := sha256.Sum256(der)
		k.SHA256 = hex.EncodeToString(sum[:])
	}
	return k
}

// keyString renders a key as "ECDSA P-256", "RSA 2048" or "Ed25519".
func keyString(k Key) string {
	switch {
	case k.Curve != "":
		return k.Algorithm + " " + k.Curve
	case k.Algorithm == "RSA":
		return fmt.Sprintf("RSA %d", k.Bits)
	}
	return k.Algorithm
}

// isSelfSigned reports whether cert names itself as issuer and its own key
// verifies its signature.
func isSelfSigned(cert *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(cert.RawSubject) && checkSignature(cert, cert) == nil
}

// checkSignature reports whether parent's key signed cert, without
// checking that parent may act as a CA: lint reports that separately (L23).
// SHA-1 signatures, which crypto/x509 refuses, are checked by hand so that
// the issuer of a SHA-1 certificate is still found and the weak signature
// is reported as what it is (L29).
func checkSignature(cert, parent *x509.Certificate) error {
	err := parent.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
	if _, insecure := errors.AsType[x509.InsecureAlgorithmError](err); !insecure {
		return err
	}
	sum := sha1.Sum(cert.RawTBSCertificate)
	switch pub := parent.PublicKey.(type) {
	case *rsa.PublicKey:
		if cert.SignatureAlgorithm == x509.SHA1WithRSA {
			return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], cert.Signature)
		}
	case *ecdsa.PublicKey:
		if cert.SignatureAlgorithm == x509.ECDSAWithSHA1 {
			if ecdsa.VerifyASN1(pub, sum[:], cert.Signature) {
				return nil
			}
			return errors.New("ECDSA-SHA1 signature does not verify")
		}
	}
	return err
}
