package storage

import "errors"

var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("key not found")
	// ErrExists is returned by Create when the key already exists.
	ErrExists = errors.New("key already exists")
	// ErrConflict is returned when an expected revision does not match the
	// key's current revision.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted is returned when a watch or a continued list asks for a
	// revision older than the history the store keeps.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision is returned when a list asks for a revision the
	// store has not reached.
	ErrFutureRevision = errors.New("revision not yet reached")
	// ErrInvalidContinue is returned for a malformed continue token.
	ErrInvalidContinue = errors.New("invalid continue token")
	// ErrUnavailable wraps errors where the store cannot be reached or has
	// no quorum: conditions that usually end by themselves within seconds.
	// The API server answers 503 with Retry-After and logs the cause.
	ErrUnavailable = errors.New("store unavailable")
	// ErrNoSpace wraps write errors of a store that has no space left: a
	// full disk or quota under bbolt, etcd's NOSPACE alarm. Reads go on and
	// writes resume once an operator frees space, without a restart; the
	// API server answers 500 at once (no retry helps) and logs the cause.
	ErrNoSpace = errors.New("store out of space")
	// ErrTooLarge is returned when a value exceeds the store's size limit.
	ErrTooLarge = errors.New("value too large")
)
