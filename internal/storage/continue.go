package storage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// continueToken is the decoded form of [ListResult.Continue]: the revision
// the first page was read at and the last key already returned.
type continueToken struct {
	Revision int64 `json:"rv"`
	// LastKey is bytes so that keys that are not valid UTF-8 survive.
	LastKey []byte `json:"k"`
}

// EncodeContinue returns the opaque continue token for a page read at
// revision whose last item was lastKey. Implementations use it so that
// tokens look the same on every backend.
func EncodeContinue(revision int64, lastKey string) string {
	b, err := json.Marshal(continueToken{Revision: revision, LastKey: []byte(lastKey)})
	if err != nil {
		// A struct of an int and a string always marshals.
		panic(fmt.Sprintf("marshal continue token: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContinue parses a token made by [EncodeContinue] for a list under
// prefix and returns the revision to read at and the key after which the
// next page starts. It returns an error wrapping [ErrInvalidContinue] when
// the token is malformed, has a non-positive revision, or names a key
// outside prefix.
func DecodeContinue(prefix, token string) (revision int64, lastKey string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", fmt.Errorf("decode continue token: %w", ErrInvalidContinue)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return 0, "", fmt.Errorf("parse continue token: %w", ErrInvalidContinue)
	}
	if t.Revision <= 0 {
		return 0, "", fmt.Errorf("continue token has revision %d: %w", t.Revision, ErrInvalidContinue)
	}
	if !strings.HasPrefix(string(t.LastKey), prefix) {
		return 0, "", fmt.Errorf("continue token is for another prefix than %q: %w", prefix, ErrInvalidContinue)
	}
	return t.Revision, string(t.LastKey), nil
}
