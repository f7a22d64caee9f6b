package bolt

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/storage"
)

// TestGather checks the writer's batching without its goroutine: a lone
// writer never waits for company, concurrent writers are waited for until
// the batch is as large as the previous one, and closing ends the wait.
func TestGather(t *testing.T) {
	t.Parallel()
	newStore := func() *Store {
		// A delay no test may sit out: a wait that is not cut short
		// shows as a test timeout.
		return &Store{ops: make(chan *op, 8), closing: make(chan struct{}), opts: Options{CommitDelay: time.Hour}}
	}
	first := &op{key: "first"}
	within := func(what string, f func() []*op) []*op {
		t.Helper()
		done := make(chan []*op, 1)
		go func() { done <- f() }()
		select {
		case b := <-done:
			return b
		case <-time.After(time.Minute):
			t.Fatalf("%s: gather still waiting after a minute", what)
			return nil
		}
	}

	s := newStore()
	s.ops <- &op{key: "queued"}
	if b := within("lone writer", func() []*op { return s.gather([]*op{first}, 8, 1) }); len(b) != 2 {
		t.Errorf("lone writer: batch of %d, want the first op and the queued one", len(b))
	}

	s = newStore()
	go func() {
		for _, k := range []string{"a", "b"} {
			s.ops <- &op{key: k}
		}
	}()
	b := within("concurrent writers", func() []*op { return s.gather([]*op{first}, 8, 3) })
	if len(b) != 3 || b[0] != first || b[1].key != "a" || b[2].key != "b" {
		t.Errorf("concurrent writers: batch %v, want first, a, b in order", keys(b))
	}

	s = newStore()
	close(s.closing)
	if b := within("closing", func() []*op { return s.gather([]*op{first}, 8, 5) }); len(b) != 1 {
		t.Errorf("closing: batch of %d, want 1", len(b))
	}

	s = newStore()
	s.opts.CommitDelay = -1
	if b := within("no delay", func() []*op { return s.gather([]*op{first}, 8, 5) }); len(b) != 1 {
		t.Errorf("negative CommitDelay: batch of %d, want 1", len(b))
	}
}

func keys(ops []*op) []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.key)
	}
	return out
}

// TestCommitError: a full disk or quota is ErrNoSpace, which an operator
// ends without a restart; other write errors are neither that nor
// "unavailable".
func TestCommitError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		errno   syscall.Errno
		noSpace bool
	}{
		{syscall.ENOSPC, true},
		{syscall.EDQUOT, true},
		{syscall.EIO, false},
	} {
		err := commitError("/data/kubepki.db", &fs.PathError{Op: "write", Path: "/data/kubepki.db", Err: tc.errno})
		if got := errors.Is(err, storage.ErrNoSpace); got != tc.noSpace {
			t.Errorf("%v: no space = %v, want %v (%v)", tc.errno, got, tc.noSpace, err)
		}
		if errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%v: %v is unavailable, which clients retry every second", tc.errno, err)
		}
		if !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), "/data/kubepki.db") {
			t.Errorf("%v: %v, want the errno and the file", tc.errno, err)
		}
		if tc.noSpace && !strings.Contains(err.Error(), "the disk is full") {
			t.Errorf("%v: %q does not say the disk is full", tc.errno, err)
		}
	}
}
