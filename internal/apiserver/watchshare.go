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

// sharedEvents holds the last sharedEventsSize events, oldest replaced
// first.
type sharedEvents struct {
	mu    sync.Mutex
	items map[eventKey]*sharedEvent
	ring  [sharedEventsSize]eventKey
	next  int
}

// get returns the shared form of ev, adding it if it is not held.
func (c *sharedEvents) get(ev storage.Event) *sharedEvent {
	k := eventKey{revision: ev.KV.Revision, key: ev.KV.Key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		return e
	}
	if c.items == nil {
		c.items = make(map[eventKey]*sharedEvent, sharedEventsSize)
	}
	if old := c.ring[c.next]; old.key != "" {
		delete(c.items, old)
	}
	e := &sharedEvent{kv: ev.KV, prevValue: ev.PrevValue}
	c.items[k] = e
	c.ring[c.next] = k
	c.next = (c.next + 1) % sharedEventsSize
	return e
}
