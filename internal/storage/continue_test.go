package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestContinueRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rev     int64
		key     string
		prefix  string
		wantErr error
	}{
		{name: "simple", rev: 7, key: "/csr/a", prefix: "/csr/"},
		{name: "binary key", rev: 1 << 40, key: "/csr/\x00\xff\"", prefix: "/csr/"},
		{name: "empty prefix", rev: 1, key: "x", prefix: ""},
		{name: "other prefix", rev: 3, key: "/node/a", prefix: "/csr/", wantErr: ErrInvalidContinue},
		{name: "zero revision", rev: 0, key: "/csr/a", prefix: "/csr/", wantErr: ErrInvalidContinue},
		{name: "negative revision", rev: -4, key: "/csr/a", prefix: "/csr/", wantErr: ErrInvalidContinue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := EncodeContinue(tc.rev, tc.key)
			rev, key, err := DecodeContinue(tc.prefix, token)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("DecodeContinue(%q, %q) error = %v, want %v", tc.prefix, token, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if rev != tc.rev || key != tc.key {
				t.Errorf("DecodeContinue(%q, %q) = %d, %q, want %d, %q", tc.prefix, token, rev, key, tc.rev, tc.key)
			}
		})
	}
}

func TestDecodeContinueMalformed(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", "!!!", "bm90IGpzb24", "e30", "eyJydiI6ImEifQ"} {
		if _, _, err := DecodeContinue("", token); !errors.Is(err, ErrInvalidContinue) {
			t.Errorf("DecodeContinue(%q) error = %v, want %v", token, err, ErrInvalidContinue)
		}
	}
}

func FuzzDecodeContinue(f *testing.F) {
	f.Add("/csr/", EncodeContinue(5, "/csr/x"))
	f.Add("", EncodeContinue(1, ""))
	f.Add("/a", "e30")
	f.Add("/a", "!!")
	f.Fuzz(func(t *testing.T, prefix, token string) {
		rev, key, err := DecodeContinue(prefix, token)
		if err != nil {
			if !errors.Is(err, ErrInvalidContinue) || err.Error() == "" {
				t.Fatalf("DecodeContinue error %v does not wrap ErrInvalidContinue", err)
			}
			return
		}
		if rev <= 0 || !strings.HasPrefix(key, prefix) {
			t.Fatalf("DecodeContinue accepted rev %d key %q for prefix %q", rev, key, prefix)
		}
		rev2, key2, err := DecodeContinue(prefix, EncodeContinue(rev, key))
		if err != nil || rev2 != rev || key2 != key {
			t.Fatalf("round trip of (%d, %q) = (%d, %q, %v)", rev, key, rev2, key2, err)
		}
	})
}
