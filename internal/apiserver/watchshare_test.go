package apiserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/storage"
)

// TestSharedEventsBounded: the shared events hold at most
// sharedEventsSize events and at most sharedEventsBytes of stored bytes,
// dropping the oldest first; an event larger than the budget is answered
// but not held; held events are found again.
func TestSharedEventsBounded(t *testing.T) {
	t.Parallel()
	ev := func(rev int64, size int) storage.Event {
		return storage.Event{KV: storage.KV{Key: fmt.Sprintf("/csr/%d", rev), Value: []byte(strings.Repeat("v", size)), Revision: rev}}
	}
	var c sharedEvents
	check := func(when string) {
		t.Helper()
		total := 0
		for _, e := range c.items {
			total += e.size()
		}
		if len(c.items) != c.n || c.n > sharedEventsSize || total != c.bytes || c.bytes > sharedEventsBytes {
			t.Fatalf("%s: %d items, n %d, %d bytes counted as %d (limits %d events, %d bytes)", when, len(c.items), c.n, total, c.bytes, sharedEventsSize, sharedEventsBytes)
		}
	}

	// Small events: the last sharedEventsSize are held.
	for rev := int64(1); rev <= 3*sharedEventsSize; rev++ {
		c.get(ev(rev, 100))
	}
	check("small events")
	if c.n != sharedEventsSize {
		t.Fatalf("%d small events held, want %d", c.n, sharedEventsSize)
	}
	newest := ev(3*sharedEventsSize, 100)
	if a, b := c.get(newest), c.get(newest); a != b {
		t.Error("the newest event is not shared")
	}
	if _, ok := c.items[eventKey{revision: 1, key: "/csr/1"}]; ok {
		t.Error("the oldest event is still held")
	}

	// Large events push out as many old ones as their bytes need.
	big := sharedEventsBytes / 4
	for rev := int64(1000); rev < 1010; rev++ {
		c.get(ev(rev, big))
		check(fmt.Sprintf("large event %d", rev))
	}
	if c.n > 4 {
		t.Errorf("%d events of %d bytes held in a %d-byte budget", c.n, big, sharedEventsBytes)
	}
	last := ev(1009, big)
	if a, b := c.get(last), c.get(last); a != b {
		t.Error("the newest large event is not shared")
	}

	// One beyond the budget is decoded by each watch on its own.
	huge := ev(2000, sharedEventsBytes+1)
	if a, b := c.get(huge), c.get(huge); a == b || a.kv.Revision != 2000 {
		t.Error("an event beyond the budget was held")
	}
	check("huge event")
	if _, ok := c.items[eventKey{revision: 1009, key: "/csr/1009"}]; !ok {
		t.Error("an event beyond the budget pushed out the held ones")
	}
}
