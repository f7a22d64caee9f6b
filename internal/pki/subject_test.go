package pki

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // FormatSubject of the result
		wantErr bool
	}{
		{"/CN=jane/O=dev/O=ops", "/O=dev/O=ops/CN=jane", false},
		{"/C=DE/ST=Berlin/L=Berlin/O=ACME/OU=Platform/CN=x", "/C=DE/ST=Berlin/L=Berlin/O=ACME/OU=Platform/CN=x", false},
		{`/CN=a\/b`, `/CN=a\/b`, false},
		{"", "", false},
		{"CN=jane", "", true},
		{"/CN=a/CN=b", "", true},
		{"/XX=a", "", true},
		{"/CN=", "", true},
		{"/CN", "", true},
		{"/CN=a\x01", "", true},
	}
	for _, tc := range tests {
		n, err := ParseSubject(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSubject(%q) err = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil {
			if got := FormatSubject(n); got != tc.want {
				t.Errorf("FormatSubject(ParseSubject(%q)) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

func TestParseSANs(t *testing.T) {
	t.Parallel()
	got, err := ParseSANs([]string{"DNS:Node1.Example.com", "10.0.0.1,IP:10.0.0.1", "::1", "kubernetes", "URI:spiffe://c/x", "email:a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DNS:node1.example.com", "DNS:kubernetes", "IP:10.0.0.1", "IP:::1", "URI:spiffe://c/x", "email:a@example.com"}
	if diff := cmp.Diff(want, got.Strings()); diff != "" {
		t.Errorf("ParseSANs (-want +got):\n%s", diff)
	}
	if !got.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) {
		t.Error("IP not parsed")
	}
	for _, bad := range []string{"DNS:10.0.0.1", "IP:nope", "DNS:-bad", "DNS:a..b", "FOO:x", "URI:relative", "email:not-an-address", "DNS:under_score"} {
		if _, err := ParseSANs([]string{bad}); err == nil {
			t.Errorf("ParseSANs(%q) accepted a bad name", bad)
		}
	}
}
