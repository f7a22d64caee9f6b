package inspect

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
