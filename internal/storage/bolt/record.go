package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/kubepki/kubepki/internal/storage"
)

// errCorruptRecord is returned when a stored record cannot be decoded.
var errCorruptRecord = errors.New("corrupt record")

// encodeRevision returns rev as the 8-byte big-endian key of the events
// bucket, so that bbolt's byte order is revision order.
func encodeRevision(rev int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(rev))
}

// decodeRevision is the inverse of encodeRevision.
func decodeRevision(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("revision of %d bytes: %w", len(b), errCorruptRecord)
	}
	rev := int64(binary.BigEndian.Uint64(b))
	if rev < 0 {
		return 0, fmt.Errorf("negative revision: %w", errCorruptRecord)
	}
	return rev, nil
}

// encodeValue returns the kv bucket record of format 1: create revision,
// mod revision, then the value bytes. Format 2 stores the record without
// the value (encodeIndex).
func encodeValue(createRev, modRev int64, value []byte) []byte {
	b := make([]byte, 16, 16+len(value))
	binary.BigEndian.PutUint64(b, uint64(createRev))
	binary.BigEndian.PutUint64(b[8:], uint64(modRev))
	return append(b, value...)
}

// decodeValue parses a kv bucket record of format 1. The returned value
// aliases b.
func decodeValue(b []byte) (createRev, modRev int64, value []byte, err error) {
	if len(b) < 16 {
		return 0, 0, nil, fmt.Errorf("value record of %d bytes: %w", len(b), errCorruptRecord)
	}
	createRev = int64(binary.BigEndian.Uint64(b))
	modRev = int64(binary.BigEndian.Uint64(b[8:]))
	if createRev <= 0 || modRev < createRev {
		return 0, 0, nil, fmt.Errorf("value record revisions %d/%d: %w", createRev, modRev, errCorruptRecord)
	}
	return createRev, modRev, b[16:], nil
}

// encodeIndex returns the kv bucket record of the current format: the
// key's create and mod revisions. The value itself is in the values
// bucket under the mod revision.
func encodeIndex(createRev, modRev int64) []byte {
	return encodeValue(createRev, modRev, nil)
}

// decodeIndex parses a kv bucket record of the current format.
func decodeIndex(b []byte) (createRev, modRev int64, err error) {
	if len(b) != 16 {
		return 0, 0, fmt.Errorf("index record of %d bytes: %w", len(b), errCorruptRecord)
	}
	createRev, modRev, _, err = decodeValue(b)
	return createRev, modRev, err
}

// storedValue returns the value written at revision rev from the values
// bucket. The result aliases bbolt's memory.
func storedValue(values *bbolt.Bucket, rev int64) ([]byte, error) {
	return valueAt(values.Cursor(), rev)
}

// valueAt is storedValue through a cursor of the values bucket, which a
// caller looking up many values reuses.
func valueAt(c *bbolt.Cursor, rev int64) ([]byte, error) {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], uint64(rev))
	k, v := c.Seek(key[:])
	if !bytes.Equal(k, key[:]) {
		return nil, fmt.Errorf("no value stored at revision %d: %w", rev, errCorruptRecord)
	}
	return v, nil
}

// record is one entry of the event log: enough to replay a watch and to
// reconstruct the state of a key just before the event, which is what a
// continued list at an older revision needs. Format 1 logged value and
// prev with the record; format 2 logs them empty ([record.logged]) and
// keeps them in the values bucket ([record.load]).
type record struct {
	typ        storage.EventType
	key        string
	createRev  int64
	prevModRev int64 // 0 for EventCreated
	value      []byte
	prev       []byte // nil for EventCreated
}

// encodeRecord serialises r: type, create revision, previous mod
// revision, then key, value and previous value, each length-prefixed.
func encodeRecord(r record) []byte {
	b := make([]byte, 0, 1+16+3*binary.MaxVarintLen32+len(r.key)+len(r.value)+len(r.prev))
	b = append(b, byte(r.typ))
	b = binary.BigEndian.AppendUint64(b, uint64(r.createRev))
	b = binary.BigEndian.AppendUint64(b, uint64(r.prevModRev))
	for _, f := range [][]byte{[]byte(r.key), r.value, r.prev} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeEvent parses an event log entry: its key, the revision, and its
// record, with the revision in the error.
func decodeEvent(k, v []byte) (int64, record, error) {
	rev, err := decodeRevision(k)
	if err != nil {
		return 0, record{}, err
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return 0, record{}, fmt.Errorf("event %d: %w", rev, err)
	}
	return rev, rec, nil
}

// decodeRecord parses an event log entry. Byte slices in the result alias b.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < 17 {
		return r, fmt.Errorf("event record of %d bytes: %w", len(b), errCorruptRecord)
	}
	r.typ = storage.EventType(b[0])
	if r.typ < storage.EventCreated || r.typ > storage.EventDeleted {
		return r, fmt.Errorf("event type %d: %w", b[0], errCorruptRecord)
	}
	r.createRev = int64(binary.BigEndian.Uint64(b[1:]))
	r.prevModRev = int64(binary.BigEndian.Uint64(b[9:]))
	if r.createRev <= 0 || r.prevModRev < 0 || (r.typ == storage.EventCreated) != (r.prevModRev == 0) {
		return r, fmt.Errorf("event revisions %d/%d: %w", r.createRev, r.prevModRev, errCorruptRecord)
	}
	b = b[17:]
	var fields [3][]byte
	for i := range fields {
		n, size := binary.Uvarint(b)
		if size <= 0 || n > uint64(len(b)-size) {
			return r, fmt.Errorf("event field %d length: %w", i, errCorruptRecord)
		}
		fields[i] = b[size : size+int(n)]
		b = b[size+int(n):]
	}
	if len(b) != 0 {
		return r, fmt.Errorf("%d bytes after event record: %w", len(b), errCorruptRecord)
	}
	r.key, r.value = string(fields[0]), fields[1]
	if r.typ != storage.EventCreated {
		r.prev = fields[2]
	}
	return r, nil
}

// logged returns r as the event log stores it: without the value and the
// previous value, which the values bucket holds under the event's
// revision and under r.prevModRev.
func (r record) logged() record {
	r.value, r.prev = nil, nil
	return r
}

// load fills in the value and the previous value of a logged record at
// revision rev from the values bucket.
func (r *record) load(values *bbolt.Bucket, rev int64) error {
	var err error
	if r.typ != storage.EventDeleted {
		if r.value, err = storedValue(values, rev); err != nil {
			return err
		}
	}
	if r.typ != storage.EventCreated {
		if r.prev, err = storedValue(values, r.prevModRev); err != nil {
			return err
		}
	}
	return nil
}

// event converts a decoded record at revision rev into a watch event,
// copying every byte slice out of bbolt's memory.
func (r record) event(rev int64) storage.Event {
	ev := storage.Event{
		Type: r.typ,
		KV:   storage.KV{Key: r.key, Value: clone(r.value), Revision: rev, CreateRevision: r.createRev},
	}
	if r.typ != storage.EventCreated {
		ev.PrevValue = clone(r.prev)
	}
	if r.typ == storage.EventDeleted {
		ev.KV.Value = ev.PrevValue
	}
	return ev
}

// clone copies b, returning a non-nil slice so that empty values stay
// distinguishable from absent ones.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
