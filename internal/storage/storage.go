// Package storage defines kubepki's small versioned key-value store: the
// contract that both the embedded bbolt store and the etcd store implement,
// and that the API server and controllers build on. It knows nothing about
// what the values mean.
//
// Semantics shared by every implementation (checked by storagetest.Run):
//
//   - Every successful mutation (Create, Update, Delete) advances the store's
//     revision by exactly one and is durable when the call returns.
//     Revisions strictly increase for the life of the store, across restarts.
//   - A key's Revision is the store revision of its last mutation (etcd's
//     mod revision); it is what the API server exposes as resourceVersion.
//   - Watch delivers every mutation under a prefix with a revision greater
//     than the one asked for, once each, in revision order, or ends with
//     ErrCompacted when that history is gone.
package storage

import (
	"context"
)

// KV is one stored value with its versions.
type KV struct {
	// Key is the key as the caller gave it, for example
	// "/certificatesigningrequests/csr-1". The etcd store keeps keys under
	// its prefix (--etcd-prefix, default "/registry"), as kube-apiserver
	// does, so callers do not repeat the prefix in their keys.
	Key string
	// Value is the stored bytes. Callers must not modify it.
	Value []byte
	// Revision is the store revision of the key's last mutation.
	Revision int64
	// CreateRevision is the store revision at which the key was created.
	CreateRevision int64
}

// ListOptions selects a page of a List.
type ListOptions struct {
	// Limit is the largest number of items to return; 0 means no limit.
	Limit int64
	// Continue is the opaque token from a previous ListResult; empty starts
	// at the beginning of the prefix.
	Continue string
	// Revision, when positive on a first page (Continue empty), reads the
	// store as it was at that revision, and the continued pages too:
	// ErrCompacted when the store no longer has that history,
	// ErrFutureRevision when it has not reached it. Zero reads the current
	// state.
	Revision int64
}

// ListResult is one page of keys under a prefix, sorted by key.
type ListResult struct {
	Items []KV
	// Revision is the store revision the page was read at.
	Revision int64
	// Continue is set when more items follow; pass it back in ListOptions.
	Continue string
	// RemainingItemCount, when non-nil, is how many items follow this page.
	RemainingItemCount *int64
}

// EventType says what a watch event did to a key.
type EventType int

const (
	// EventCreated is a key that did not exist before.
	EventCreated EventType = iota + 1
	// EventUpdated is a new value for an existing key.
	EventUpdated
	// EventDeleted is a key removed; KV holds its last value and the
	// deletion's revision.
	EventDeleted
)

// Event is one mutation seen by a watch.
type Event struct {
	Type EventType
	// KV is the key after the event (for EventDeleted: the last value,
	// with Revision set to the revision of the deletion).
	KV KV
	// PrevValue is the value before the event, when the store has it.
	PrevValue []byte
}

// Watcher is a running watch. Events are delivered on Events until the
// watch ends; then Events is closed and Err says why (nil when stopped by
// Stop or by the context).
type Watcher interface {
	Events() <-chan Event
	// Err reports why the watch ended: nil, ErrCompacted, or a store error.
	// It is valid after Events is closed.
	Err() error
	// Stop ends the watch and releases its resources. It is idempotent.
	Stop()
}

// Interface is the store contract. Implementations are safe for
// concurrent use.
type Interface interface {
	// Create stores value under key if the key does not exist and returns
	// the new revision. It returns ErrExists if the key exists.
	Create(ctx context.Context, key string, value []byte) (int64, error)

	// Get returns the key's current value. It returns ErrNotFound if absent.
	Get(ctx context.Context, key string) (KV, error)

	// List returns keys with the given prefix, in key order, paginated by
	// opts. It returns ErrCompacted if a Continue token refers to history
	// the store no longer has, and ErrInvalidContinue for a token it did not
	// issue.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)

	// Update replaces the value of key if its current revision equals
	// expectedRevision, and returns the new revision. It returns ErrNotFound
	// if the key is absent and ErrConflict if the revision differs.
	Update(ctx context.Context, key string, expectedRevision int64, value []byte) (int64, error)

	// Delete removes key. If expectedRevision is non-zero the key's current
	// revision must equal it (else ErrConflict). It returns the deleted value
	// with Revision set to the deletion's revision, or ErrNotFound.
	Delete(ctx context.Context, key string, expectedRevision int64) (KV, error)

	// Watch streams every mutation under prefix with a revision greater
	// than fromRevision. fromRevision 0 means "from now". It returns
	// ErrCompacted (at once, or later through Watcher.Err) when the history
	// after fromRevision is no longer available.
	Watch(ctx context.Context, prefix string, fromRevision int64) (Watcher, error)

	// CurrentRevision returns the store's latest revision.
	CurrentRevision(ctx context.Context) (int64, error)

	// Close releases the store. Running watches end.
	Close() error
}

// Healther is implemented by stores that can report their health for
// /readyz; a nil error means healthy.
type Healther interface {
	Health(ctx context.Context) error
}
