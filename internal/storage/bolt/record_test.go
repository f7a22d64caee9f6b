package bolt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubepki/kubepki/internal/storage"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  record
	}{
		{"created", record{typ: storage.EventCreated, key: "/a", createRev: 3, value: []byte("v")}},
		{"updated", record{typ: storage.EventUpdated, key: "/a", createRev: 3, prevModRev: 4, value: []byte("new"), prev: []byte("old")}},
		{"deleted", record{typ: storage.EventDeleted, key: "/a\x00b", createRev: 1, prevModRev: 9, value: []byte{}, prev: []byte("last")}},
		{"empty values", record{typ: storage.EventUpdated, key: "k", createRev: 1, prevModRev: 1, value: []byte{}, prev: []byte{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeRecord(encodeRecord(tc.rec))
			if err != nil {
				t.Fatalf("decodeRecord(encodeRecord(%+v)) error = %v", tc.rec, err)
			}
			if diff := cmp.Diff(tc.rec, got, cmp.AllowUnexported(record{}), cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	t.Parallel()
	good := encodeRecord(record{typ: storage.EventUpdated, key: "/a", createRev: 3, prevModRev: 4, value: []byte("n"), prev: []byte("o")})
	tests := map[string][]byte{
		"empty":          nil,
		"short":          good[:10],
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"bad type":       append([]byte{9}, good[1:]...),
		"created with previous revision": func() []byte {
			b := append([]byte{}, good...)
			b[0] = byte(storage.EventCreated)
			return b
		}(),
	}
	for name, b := range tests {
		if _, err := decodeRecord(b); !errors.Is(err, errCorruptRecord) {
			t.Errorf("decodeRecord(%s) error = %v, want %v", name, err, errCorruptRecord)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 15), encodeValue(0, 0, nil), encodeValue(5, 4, nil)} {
		if _, _, _, err := decodeValue(b); !errors.Is(err, errCorruptRecord) {
			t.Errorf("decodeValue(%x) error = %v, want %v", b, err, errCorruptRecord)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 16), encodeValue(1, 1, []byte("v")), encodeValue(5, 4, nil)} {
		if _, _, err := decodeIndex(b); !errors.Is(err, errCorruptRecord) {
			t.Errorf("decodeIndex(%x) error = %v, want %v", b, err, errCorruptRecord)
		}
	}
	for _, b := range [][]byte{nil, {1}, bytes.Repeat([]byte{0xff}, 8)} {
		if _, err := decodeRevision(b); !errors.Is(err, errCorruptRecord) {
			t.Errorf("decodeRevision(%x) error = %v, want %v", b, err, errCorruptRecord)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(record{typ: storage.EventCreated, key: "/a", createRev: 3, value: []byte("v")}))
	f.Add(encodeRecord(record{typ: storage.EventUpdated, key: "/a", createRev: 3, prevModRev: 4, value: []byte("new"), prev: []byte("old")}))
	f.Add(encodeRecord(record{typ: storage.EventDeleted, key: "/a", createRev: 1, prevModRev: 2, prev: []byte("x")}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errCorruptRecord) {
				t.Fatalf("decodeRecord error %v does not wrap errCorruptRecord", err)
			}
			return
		}
		again, err := decodeRecord(encodeRecord(rec))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", rec, err)
		}
		if diff := cmp.Diff(rec, again, cmp.AllowUnexported(record{}), cmp.Comparer(bytes.Equal)); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
		ev := rec.event(rec.createRev + rec.prevModRev + 1)
		if ev.Type != rec.typ || ev.KV.Key != rec.key {
			t.Fatalf("event(%+v) = %+v", rec, ev)
		}
	})
}

func FuzzDecodeValue(f *testing.F) {
	f.Add(encodeValue(1, 1, []byte("v")))
	f.Add(encodeValue(3, 7, nil))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, m, v, err := decodeValue(b)
		if err != nil {
			if !errors.Is(err, errCorruptRecord) {
				t.Fatalf("decodeValue error %v does not wrap errCorruptRecord", err)
			}
			return
		}
		if !bytes.Equal(encodeValue(c, m, v), b) {
			t.Fatalf("encodeValue(decodeValue(%x)) differs", b)
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(encodeIndex(1, 1))
	f.Add(encodeIndex(3, 7))
	f.Add(encodeValue(1, 1, []byte("a version 1 record")))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, m, err := decodeIndex(b)
		if err != nil {
			if !errors.Is(err, errCorruptRecord) {
				t.Fatalf("decodeIndex error %v does not wrap errCorruptRecord", err)
			}
			return
		}
		if c <= 0 || m < c {
			t.Fatalf("decodeIndex(%x) = %d, %d: revisions out of order", b, c, m)
		}
		if !bytes.Equal(encodeIndex(c, m), b) {
			t.Fatalf("encodeIndex(decodeIndex(%x)) differs", b)
		}
	})
}
