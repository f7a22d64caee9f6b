package inspect

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestParseDamaged shows the errors of the damaged inputs a directory
// walk must report rather than skip.
func TestParseDamaged(t *testing.T) {
	t.Parallel()
	cert, err := os.ReadFile(filepath.Join("testdata", "fixtures", "pki", "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(strings.SplitAfter(string(cert), "\n")[:3], "")
	tests := []struct {
		name    string
		data    string
		wantErr error
	}{
		{"not PEM", "hello world garbage\n", ErrUnrecognized},
		{"empty", " \n", ErrEmpty},
		{"truncated after the BEGIN line", head, ErrMalformedPEM},
		{"BEGIN line cut", "-----BEGIN CERTIF", ErrMalformedPEM},
		{"bundle with a truncated second certificate", string(cert) + string(cert[:len(cert)/2]), ErrMalformedPEM},
		{"broken block before a good one", head + string(cert), ErrMalformedPEM},
		{"END line of another type", strings.Replace(string(cert), "END CERTIFICATE", "END PRIVATE KEY", 1), ErrMalformedPEM},
		{"body not base64", "-----BEGIN EC PRIVATE KEY-----\n!!!!\n-----END EC PRIVATE KEY-----\n", ErrMalformedPEM},
		{"CRLF, truncated", strings.ReplaceAll(head, "\n", "\r\n"), ErrMalformedPEM},
		{"only EC PARAMETERS", "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", ErrUnrecognized},
		// pem.Decode takes BEGIN only at the start of a line.
		{"BEGIN in the middle of a line", "see -----BEGIN CERTIFICATE-----\n", ErrUnrecognized},
		{"good certificate", string(cert), nil},
		{"good bundle", string(cert) + string(cert), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, err := Parse([]byte(tc.data))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Parse = %d objects, %v; want %v", len(objs), err, tc.wantErr)
			}
		})
	}
}

// derWhiteSpace are the bytes bytes.TrimSpace cuts from the end of input:
// a DER encoding whose signature or key ends in one of them must reach the
// DER parser whole.
var derWhiteSpace = []byte{'\t', '\n', '\v', '\f', '\r', ' '}

// findDERsEndingInWhiteSpace calls gen, at most limit times, until it has
// for every byte of derWhiteSpace a DER encoding of kind ending in it.
func findDERsEndingInWhiteSpace(t *testing.T, kind string, limit int, gen func() []byte) map[byte][]byte {
	t.Helper()
	found := map[byte][]byte{}
	for range limit {
		der := gen()
		if last := der[len(der)-1]; slices.Contains(derWhiteSpace, last) && found[last] == nil {
			found[last] = der
			if len(found) == len(derWhiteSpace) {
				return found
			}
		}
	}
	t.Fatalf("no %s DER ending in each of %q after %d tries; found %d", kind, derWhiteSpace, limit, len(found))
	return nil
}

// TestParseDERTrailingWhiteSpace shows that a DER certificate, request or
// key whose last byte is ASCII white space (about one in 40 of them)
// parses whole, from bytes and from a file: only text input is trimmed.
func TestParseDERTrailingWhiteSpace(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "kubernetes")
	// One try in 256 ends in a given byte; 20000 tries miss one of six
	// with a probability under 1e-30.
	const limit = 20000
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "jane"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leafKey, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	certs := findDERsEndingInWhiteSpace(t, "certificate", limit, func() []byte {
		if tmpl.SerialNumber, err = pki.NewSerial(); err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, ca.Cert, leafKey.Public(), ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	})
	csrs := findDERsEndingInWhiteSpace(t, "certificate request", limit, func() []byte {
		der, err := x509.CreateCertificateRequest(cryptorand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, leafKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	})
	// An EC key's SEC1, PKCS#8 and PKIX encodings all end with its public
	// point.
	keys := map[byte]*ecdsa.PrivateKey{}
	findDERsEndingInWhiteSpace(t, "EC key", limit, func() []byte {
		key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		if keys[der[len(der)-1]] == nil {
			keys[der[len(der)-1]] = key
		}
		return der
	})

	dir := t.TempDir()
	for _, b := range derWhiteSpace {
		key := keys[b]
		sec1, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		spki, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name       string
			der        []byte
			kind       Kind
			wantFormat string
		}{
			{"certificate", certs[b], KindCertificate, "DER"},
			{"certificate request", csrs[b], KindCSR, "DER"},
			{"SEC1 private key", sec1, KindPrivateKey, "SEC1"},
			{"PKCS#8 private key", pkcs8, KindPrivateKey, "PKCS#8"},
			{"PKIX public key", spki, KindPublicKey, "PKIX"},
		} {
			t.Run(fmt.Sprintf("%s ending in %#02x", tc.name, b), func(t *testing.T) {
				if last := tc.der[len(tc.der)-1]; last != b {
					t.Fatalf("DER ends in %#02x, want %#02x", last, b)
				}
				objs, err := Parse(bytes.Clone(tc.der))
				if err != nil {
					t.Fatalf("Parse(DER %s ending in %#02x) = %v, want it parsed", tc.name, b, err)
				}
				if len(objs) != 1 || objs[0].Kind != tc.kind || objs[0].Format != tc.wantFormat {
					t.Fatalf("Parse = %d objects, first %q %q; want one %q %q", len(objs), objs[0].Kind, objs[0].Format, tc.kind, tc.wantFormat)
				}
				if c := objs[0].Certificate; c != nil && !bytes.Equal(c.Raw, tc.der) {
					t.Errorf("certificate Raw is %d bytes, want the %d of the input", len(c.Raw), len(tc.der))
				}
				// The trimmed encoding is not DER any more: the case is real.
				if _, err := Parse(bytes.TrimSpace(tc.der)); err == nil {
					t.Errorf("Parse(DER without its last byte) succeeded; the test input does not show the bug")
				}

				path := filepath.Join(dir, fmt.Sprintf("%s-%02x.der", strings.ReplaceAll(tc.name, " ", "-"), b))
				if err := os.WriteFile(path, tc.der, 0o600); err != nil {
					t.Fatal(err)
				}
				rep, err := Inspect([]string{path}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Items) != 1 || rep.Items[0].Error != "" || rep.Items[0].Kind != tc.kind {
					t.Errorf("Inspect(%s) = %+v, want one %s item without error", path, rep.Items, tc.kind)
				}
			})
		}
	}
}
