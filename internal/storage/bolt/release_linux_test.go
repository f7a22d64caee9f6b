package bolt

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kubepki/kubepki/internal/storage"
)

// TestReleaseReadPages: after a full list the file's pages are resident
// in the process; ReleaseReadPages gives them back, and reads still see
// every value.
func TestReleaseReadPages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 800, 10 << 10 // 8 MB of values
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				if _, err := s.Create(ctx, fmt.Sprintf("/v/%04d", i), value(i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, Options{})

	var listed int
	opts := storage.ListOptions{Limit: 100}
	for {
		res, err := s.List(ctx, "/v/", opts)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(res.Items)
		if res.Continue == "" {
			break
		}
		opts.Continue = res.Continue
	}
	if listed != n {
		t.Fatalf("listed %d values, want %d", listed, n)
	}
	read := residentKB(t, path)
	if read < n*size/1024*3/4 {
		t.Fatalf("after the list %d kB of the file are resident; want most of its %d kB", read, n*size/1024)
	}
	if err := s.ReleaseReadPages(); err != nil {
		t.Fatalf("ReleaseReadPages() error = %v", err)
	}
	if after := residentKB(t, path); after > read/4 {
		t.Errorf("after ReleaseReadPages %d kB are resident, was %d kB; want at most a quarter", after, read)
	}
	for _, i := range []int{0, 399, n - 1} {
		kv, err := s.Get(ctx, fmt.Sprintf("/v/%04d", i))
		if err != nil || !bytes.Equal(kv.Value, value(i)) {
			t.Errorf("Get(%d) after the release = %v, value intact %v", i, err, bytes.Equal(kv.Value, value(i)))
		}
	}
}

// residentKB sums the resident kB of this process's mappings of path.
func residentKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("read the process's mappings: %v", err)
	}
	defer f.Close()
	kb, in, found := 0, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			found = found || in
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			v, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q", sc.Text())
			}
			kb += v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no mapping of %s in /proc/self/smaps", path)
	}
	return kb
}
