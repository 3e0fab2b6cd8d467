package onion

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/edge"
	onionsvc "github.com/picket-edge/picket/onion"
)

func init() {
	caddy.RegisterModule(ListenerWrapper{})
}

// ListenerWrapper marks every connection on its listener as onion traffic
// and reads the circuit header tor sends first on each stream. Put it only on
// the server that listens on the onion socket.
//
// The mark is a Go type on the connection's local address, which no client
// can produce; net/http puts that address in every request's context
// (http.LocalAddrContextKey), for HTTP/1 and HTTP/2 alike, and handlers find
// it there. The remote address stays that of a unix peer, so nothing
// downstream mistakes it for an IP.
type ListenerWrapper struct {
	// CircuitID is "haproxy" (tor sends a PROXY line on every stream;
	// a stream without one is closed; the default) or "none" (no header
	// is read, all visitors share one identity). It must match the
	// picket_onion app's circuit_id.
	CircuitID string `json:"circuit_id,omitempty"`

	// HeaderTimeout bounds the wait for the header (default 5s).
	HeaderTimeout caddy.Duration `json:"header_timeout,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (ListenerWrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.picket_onion",
		New: func() caddy.Module { return new(ListenerWrapper) },
	}
}

// Provision sets defaults.
func (lw *ListenerWrapper) Provision(ctx caddy.Context) error {
	lw.logger = ctx.Logger()
	// the app is not consulted here: the http app provisions this
	// wrapper, and the onion app provisions the http app to check it
	if lw.CircuitID == "" {
		lw.CircuitID = "haproxy"
	}
	if lw.HeaderTimeout == 0 {
		lw.HeaderTimeout = caddy.Duration(5 * time.Second)
	}
	return nil
}

// Validate checks the configuration.
func (lw *ListenerWrapper) Validate() error {
	if lw.CircuitID != "haproxy" && lw.CircuitID != "none" {
		return fmt.Errorf("circuit_id: %q is neither haproxy nor none", lw.CircuitID)
	}
	if lw.HeaderTimeout < 0 {
		return errors.New("header_timeout must not be negative")
	}
	return nil
}

// WrapListener wraps ln.
func (lw *ListenerWrapper) WrapListener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, wrapper: lw}
}

type listener struct {
	net.Listener
	wrapper *ListenerWrapper
}

// Accept returns at once; the header is read on the connection's own
// goroutine, when it is first read from or asked for its remote address.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{
		Conn:    c,
		br:      bufio.NewReaderSize(c, 512),
		header:  l.wrapper.CircuitID == "haproxy",
		timeout: time.Duration(l.wrapper.HeaderTimeout),
		logger:  l.wrapper.logger,
	}, nil
}

// CircuitAddr is the local address of a connection on the onion listener:
// the socket, plus the circuit the stream arrived on.
type CircuitAddr struct {
	// Socket is the listener's own address.
	Socket net.Addr

	// Circuit is tor's global circuit ID in decimal, or "" when circuit
	// IDs are not exported.
	Circuit string
}

// Network implements net.Addr.
func (a *CircuitAddr) Network() string { return a.Socket.Network() }

// String implements net.Addr; it is the socket's address.
func (a *CircuitAddr) String() string { return a.Socket.String() }

// OnionCircuit implements edge.OnionAddr.
func (a *CircuitAddr) OnionCircuit() string { return a.Circuit }

type conn struct {
	net.Conn
	br      *bufio.Reader
	header  bool
	timeout time.Duration
	logger  *zap.Logger

	once sync.Once
	addr *CircuitAddr
	err  error
}

// init reads the circuit header once.
func (c *conn) init() {
	c.once.Do(func() {
		c.addr = &CircuitAddr{Socket: c.Conn.LocalAddr()}
		if !c.header {
			return
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		c.addr.Circuit, c.err = onionsvc.ReadCircuitHeader(c.br)
		_ = c.Conn.SetReadDeadline(time.Time{})
		if c.err != nil {
			if c.logger.Core().Enabled(zap.DebugLevel) {
				c.logger.Debug("closing onion stream without circuit header")
			}
			_ = c.Conn.Close()
		}
	})
}

func (c *conn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.br.Read(p)
}

func (c *conn) LocalAddr() net.Addr {
	c.init()
	return c.addr
}

// circuitOf returns the onion mark of the connection r arrived on, if it
// has one.
func circuitOf(r *http.Request) (*CircuitAddr, bool) {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(*CircuitAddr)
	return a, ok && a != nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*ListenerWrapper)(nil)
	_ caddy.Validator       = (*ListenerWrapper)(nil)
	_ caddy.ListenerWrapper = (*ListenerWrapper)(nil)
	_ net.Addr              = (*CircuitAddr)(nil)
	_ edge.OnionAddr        = (*CircuitAddr)(nil)
)
