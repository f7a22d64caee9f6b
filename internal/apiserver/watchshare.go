package apiserver

import (
	"sync"

	certv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubepki/kubepki/internal/storage"
)

// sharedEventsSize is how many recent store events keep their decoded
// object and encodings for the watches that have not sent them yet. The
// watches of one server are rarely more than a few events apart; one
// that is further behind decodes on its own.
const sharedEventsSize = 256

// sharedEventsBytes bounds the stored bytes (each event's value and the
// value before it) of the events held, which their decoded objects and
// encodings multiply: 256 events of ordinary CSRs hold about 1.5 MB, but
// 256 objects near the 1.5 MiB object limit, made of many small labels,
// would hold gigabytes once decoded. An event larger than the whole
// budget is not shared: each watch decodes it on its own.
const sharedEventsBytes = 4 << 20

// sharedEvent is one store event as every watch sends it: the stored
// object (and, for selectors, the one before) decoded once, and encoded
// once per wire format, as kube-apiserver's watch cache serializes an
// event once for all its watchers. Its objects are never modified once
// decoded.
type sharedEvent struct {
	kv   storage.KV
	once sync.Once
	csr  *certv1.CertificateSigningRequest
	err  error

	prevValue []byte // the value before this event; nil for a create
	prevOnce  sync.Once
	prev      *certv1.CertificateSigningRequest
	prevErr   error

	mu      sync.Mutex
	encoded map[string][]byte // media type → encoded object
}

// object returns the decoded object, with its kind and apiVersion set.
// The caller must not modify it.
func (e *sharedEvent) object() (*certv1.CertificateSigningRequest, error) {
	e.once.Do(func() {
		e.csr, e.err = decodeStored(e.kv)
		if e.err == nil {
			setCSRTypeMeta(e.csr)
		}
	})
	return e.csr, e.err
}

// previous returns the object as it was before the event, with the
// event's resourceVersion and with its kind and apiVersion set, decoded
// once for every watch with a selector that asks; nil when there was none.
// The caller must not modify it.
func (e *sharedEvent) previous() (*certv1.CertificateSigningRequest, error) {
	if e.prevValue == nil {
		return nil, nil
	}
	e.prevOnce.Do(func() {
		e.prev, e.prevErr = decodeStored(storage.KV{Key: e.kv.Key, Value: e.prevValue, Revision: e.kv.Revision})
		if e.prevErr == nil {
			setCSRTypeMeta(e.prev)
		}
	})
	return e.prev, e.prevErr
}

// encode returns the object encoded by info's serializer, encoding it on
// the first call for that media type.
func (e *sharedEvent) encode(info runtime.SerializerInfo) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if raw, ok := e.encoded[info.MediaType]; ok {
		return raw, nil
	}
	csr, err := e.object()
	if err != nil {
		return nil, err
	}
	raw, err := runtime.Encode(info.Serializer, csr)
	if err != nil {
		return nil, err
	}
	if e.encoded == nil {
		e.encoded = make(map[string][]byte, 2)
	}
	e.encoded[info.MediaType] = raw
	return raw, nil
}

// eventKey names a store event: a revision may, in some stores, carry
// several keys.
type eventKey struct {
	revision int64
	key      string
}

// sharedEvents holds the last sharedEventsSize events, at most
// sharedEventsBytes of them, oldest dropped first.
type sharedEvents struct {
	mu    sync.Mutex
	items map[eventKey]*sharedEvent
	ring  [sharedEventsSize]eventKey // held events, oldest at ring[head]
	head  int
	n     int
	bytes int
}

// size is what an event counts against sharedEventsBytes.
func (e *sharedEvent) size() int { return len(e.kv.Value) + len(e.prevValue) }

// get returns the shared form of ev, adding it if it is not held.
func (c *sharedEvents) get(ev storage.Event) *sharedEvent {
	k := eventKey{revision: ev.KV.Revision, key: ev.KV.Key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		return e
	}
	e := &sharedEvent{kv: ev.KV, prevValue: ev.PrevValue}
	size := e.size()
	if size > sharedEventsBytes {
		return e
	}
	if c.items == nil {
		c.items = make(map[eventKey]*sharedEvent, sharedEventsSize)
	}
	for c.n > 0 && (c.n == sharedEventsSize || c.bytes+size > sharedEventsBytes) {
		old := c.ring[c.head]
		c.bytes -= c.items[old].size()
		delete(c.items, old)
		c.ring[c.head] = eventKey{}
		c.head = (c.head + 1) % sharedEventsSize
		c.n--
	}
	c.items[k] = e
	c.ring[(c.head+c.n)%sharedEventsSize] = k
	c.n++
	c.bytes += size
	return e
}
