// Package bolt is the embedded [storage.Interface] implementation: one
// bbolt file holding the keys, the store revision and a bounded event log
// for watches and paginated lists.
//
// Writes go through one writer goroutine that commits every write queued
// while the previous commit was syncing in a single bbolt transaction, so
// concurrent writers share one fsync and a lone writer pays one fsync
// without waiting for a batch timer. (bbolt's own db.Batch coalesces too,
// but waits up to MaxBatchDelay, 10 ms, for company: a lone writer then
// manages about 70 writes/s instead of about 400 on the same disk.) A call
// returns after its transaction is durable on disk; NoSync is never set.
//
// The file has four buckets: "meta" (the revision counter, the compacted
// revision and the format version), "kv" (each key with its create and mod
// revisions), "values" (each value under the revision that wrote it), and
// "events" (the last [Options.HistorySize] mutations by revision, without
// their values). A value stays while it is current or while an event in
// the log still needs it as its value or previous value, so every value is
// stored once; both revision-keyed buckets only grow at their end, so their
// pages are full rather than half full, as pages of keys inserted in
// random order are. The revision counter, the data and the event log
// change in the same transaction, so they never disagree after a crash.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kubepki/kubepki/internal/storage"
)

// Defaults for [Options] fields left zero.
const (
	// DefaultLockTimeout is how long Open waits for another process to
	// release the file.
	DefaultLockTimeout = time.Second
	// DefaultHistorySize is how many mutations the event log keeps for
	// watches and continued lists; older revisions give ErrCompacted.
	DefaultHistorySize = 10000
	// DefaultWatchBufferSize is how many events a watcher may fall behind
	// before it is ended with ErrCompacted.
	DefaultWatchBufferSize = 256
	// DefaultMaxValueSize is the largest value accepted, etcd's default
	// request limit (1.5 MiB), so both stores refuse the same values.
	DefaultMaxValueSize = 3 << 19
	// DefaultCommitDelay is how long the writer waits for more writes to
	// join a transaction when the previous one carried several: under
	// concurrent writers each fsync then covers more of them.
	DefaultCommitDelay = 500 * time.Microsecond
	// maxKeySize is bbolt's key limit.
	maxKeySize = bbolt.MaxKeySize
	// maxBatch bounds how many writes share one transaction; so does the
	// watch buffer (see writeLoop).
	maxBatch = 512
	// replayPage is how many events a watch replays per read transaction.
	replayPage = 512
	// fileMode is the mode of a new store file: it holds every CSR.
	fileMode = 0o600
	// formatVersion is written to the meta bucket of a new file. Version 1
	// kept each value in the kv bucket and copies of values and previous
	// values in the event log; version 2 keeps every value once, in the
	// values bucket. Open converts a version 1 file to version 2.
	formatVersion = 2
	// formatVersion1 is the first format, converted on Open.
	formatVersion1 = 1
)

var (
	bucketMeta   = []byte("meta")
	bucketKV     = []byte("kv")
	bucketEvents = []byte("events")
	bucketValues = []byte("values")
	keyRevision  = []byte("revision")
	keyCompacted = []byte("compacted")
	keyVersion   = []byte("version")
)

// ErrClosed is returned by calls on a closed store, and by Watcher.Err for
// watches that the store's Close ended. It wraps storage.ErrUnavailable.
var ErrClosed = fmt.Errorf("bolt store closed: %w", storage.ErrUnavailable)

// Options tunes [Open]. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another
	// process; zero means DefaultLockTimeout. Open never waits forever.
	LockTimeout time.Duration
	// HistorySize is how many mutations the event log keeps; zero means
	// DefaultHistorySize.
	HistorySize int
	// WatchBufferSize is the per-watcher event buffer; zero means
	// DefaultWatchBufferSize.
	WatchBufferSize int
	// MaxValueSize is the largest value accepted; zero means
	// DefaultMaxValueSize. Larger values give storage.ErrTooLarge.
	MaxValueSize int
	// CommitDelay is how long a transaction waits for more writes after
	// one that carried several (a lone writer never waits); zero means
	// DefaultCommitDelay, negative never waits.
	CommitDelay time.Duration
}

// Store is a bbolt-backed [storage.Interface]. It is safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
	opts Options

	ops     chan *op
	closing chan struct{}
	stopped chan struct{}  // closed when the writer goroutine exits
	writer  sync.WaitGroup // the writer goroutine
	replays sync.WaitGroup // watch replay goroutines
	once    sync.Once

	hub hub

	// commits and writes count transactions and the writes they carried,
	// for the benchmarks' writes-per-commit figure; largestCommit is the
	// most writes one transaction carried.
	commits, writes, largestCommit atomic.Int64

	// convertedIn is how long Open took to convert a format 1 file; zero
	// when there was nothing to convert.
	convertedIn time.Duration
}

// Converted reports whether Open converted the file from an older
// format, and how long that took, so that the caller can say so.
func (s *Store) Converted() (time.Duration, bool) {
	return s.convertedIn, s.convertedIn > 0
}

var _ storage.Interface = (*Store)(nil)

// Open opens or creates the store file at path with mode 0600. It fails,
// without changing the file, when another process holds the file (after
// opts.LockTimeout), when the file is not a bbolt database, or when it is
// a bbolt database that kubepki did not create. A file in format 1, as
// kubepki wrote it before the values bucket, is converted to the current
// format first, once; it holds the same keys, revisions and history
// afterwards (see convertFormat1).
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = DefaultHistorySize
	}
	if opts.WatchBufferSize <= 0 {
		opts.WatchBufferSize = DefaultWatchBufferSize
	}
	if opts.MaxValueSize <= 0 {
		opts.MaxValueSize = DefaultMaxValueSize
	}
	if opts.CommitDelay == 0 {
		opts.CommitDelay = DefaultCommitDelay
	}
	db, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, opts: opts, ops: make(chan *op, maxBatch), closing: make(chan struct{}), stopped: make(chan struct{})}
	start := time.Now()
	converted, err := s.init()
	if err != nil {
		db.Close()
		return nil, err
	}
	if converted {
		s.convertedIn = time.Since(start)
		// The conversion read every page of the old layout through the
		// memory map; those pages are free now, and a fresh map holds
		// only the pages the store reads from here on.
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("open store %s: reopen after converting: %w", path, err)
		}
		if s.db, err = openDB(path, opts); err != nil {
			return nil, err
		}
	}
	rev, err := s.CurrentRevision(context.Background())
	if err != nil {
		s.db.Close()
		return nil, err
	}
	s.hub.init(rev)
	s.writer.Add(1)
	go s.writeLoop()
	return s, nil
}

// openDB opens the bbolt file at path, with errors that say what to do.
func openDB(path string, opts Options) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, fileMode, &bbolt.Options{Timeout: opts.LockTimeout, FreelistType: bbolt.FreelistMapType})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open store %s: the file is locked by another process (is another kubepki server running on this data directory?): %w", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("open store %s: the file is not a valid bbolt database (%w); restore it from a backup or move it away to start empty", path, err)
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// init creates the buckets of a new file and checks those of an existing
// one, converting a version 1 file; it reports whether it converted.
func (s *Store) init() (converted bool, err error) {
	var version int64
	err = s.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketKV) != nil || tx.Bucket(bucketEvents) != nil {
				return errors.New("the file is a bbolt database without kubepki's meta bucket")
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketKV); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketEvents); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketValues); err != nil {
				return err
			}
			return meta.Put(keyVersion, encodeRevision(formatVersion))
		}
		v, err := decodeRevision(meta.Get(keyVersion))
		if err != nil || (v != formatVersion && v != formatVersion1) {
			return fmt.Errorf("unsupported store format %x", meta.Get(keyVersion))
		}
		version = v
		if tx.Bucket(bucketKV) == nil || tx.Bucket(bucketEvents) == nil {
			return errors.New("the file lacks the kv or events bucket")
		}
		if v == formatVersion && tx.Bucket(bucketValues) == nil {
			return errors.New("the file lacks the values bucket")
		}
		return nil
	})
	if err == nil && version == formatVersion1 {
		if err := convertFormat1(s.db); err != nil {
			return false, fmt.Errorf("open store %s: %w; the file still holds its format 1 data, and the next start converts it again (free disk space if it ran out)", s.path, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("open store %s: %w; restore it from a backup or move it away to start empty", s.path, err)
	}
	return false, nil
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }

// metaRevision reads an int64 from the meta bucket; absent means 0.
func metaRevision(tx *bbolt.Tx, key []byte) (int64, error) {
	b := tx.Bucket(bucketMeta).Get(key)
	if b == nil {
		return 0, nil
	}
	return decodeRevision(b)
}

// view runs fn in a read transaction after checking ctx and that the
// store is open.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closing:
		return ErrClosed
	default:
	}
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// CurrentRevision returns the revision of the last committed mutation.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		rev, err = metaRevision(tx, keyRevision)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read revision of %s: %w", s.path, err)
	}
	return rev, nil
}

// Get returns the current value of key, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	var kv storage.KV
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKV).Get([]byte(key))
		if b == nil {
			return storage.ErrNotFound
		}
		createRev, modRev, err := decodeIndex(b)
		if err != nil {
			return err
		}
		value, err := storedValue(tx.Bucket(bucketValues), modRev)
		if err != nil {
			return err
		}
		kv = storage.KV{Key: key, Value: clone(value), Revision: modRev, CreateRevision: createRev}
		return nil
	})
	if err != nil {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, err)
	}
	return kv, nil
}

// Create stores value under key if the key is absent.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	res := s.write(ctx, &op{kind: opCreate, key: key, value: value})
	if res.err != nil {
		return 0, fmt.Errorf("create %s: %w", key, res.err)
	}
	return res.kv.Revision, nil
}

// Update replaces the value of key if its revision is expectedRevision.
func (s *Store) Update(ctx context.Context, key string, expectedRevision int64, value []byte) (int64, error) {
	res := s.write(ctx, &op{kind: opUpdate, key: key, value: value, expected: expectedRevision})
	if res.err != nil {
		return 0, fmt.Errorf("update %s: %w", key, res.err)
	}
	return res.kv.Revision, nil
}

// Delete removes key, if expectedRevision is 0 or the key's revision.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KV, error) {
	res := s.write(ctx, &op{kind: opDelete, key: key, expected: expectedRevision})
	if res.err != nil {
		return storage.KV{}, fmt.Errorf("delete %s: %w", key, res.err)
	}
	return res.kv, nil
}

// Compact drops the event log up to and including revision, so that
// watches from and lists continued at older revisions get
// storage.ErrCompacted. It never removes keys. Compacting beyond the
// current revision compacts to it.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	res := s.write(ctx, &op{kind: opCompact, expected: revision})
	if res.err != nil {
		return fmt.Errorf("compact %s to %d: %w", s.path, revision, res.err)
	}
	return nil
}

// Close stops the writer, ends every watch with ErrClosed and closes the
// file. Calls in flight finish first. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		s.writer.Wait()
		s.hub.close(ErrClosed)
		s.replays.Wait()
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("close store %s: %w", s.path, cerr)
		}
	})
	return err
}

// validKey reports why key cannot be stored, or nil.
func validKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if len(key) > maxKeySize {
		return fmt.Errorf("key of %d bytes exceeds %d: %w", len(key), maxKeySize, storage.ErrTooLarge)
	}
	return nil
}
