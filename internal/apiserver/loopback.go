package apiserver

import (
	"context"
	"errors"
	"net"
	"sync"
)

// loopbackHost is the host name of the in-memory listener in LoopbackConfig.
const loopbackHost = "kubepki-loopback.invalid"

// memListener is a net.Listener whose connections exist only inside the
// process: DialContext hands one end of a net.Pipe to Accept.
type memListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

var errLoopbackClosed = errors.New("loopback listener closed")

// DialContext connects to the listener; it blocks until the server accepts
// or ctx ends.
func (l *memListener) DialContext(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
	client.Close()
	server.Close()
	return nil, errLoopbackClosed
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return loopbackHost }
