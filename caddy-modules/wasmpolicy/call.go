package wasmpolicy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/picket-edge/picket/internal/edge"
)

// Limits on what one guest call may do to the host. A guest past one of
// them traps: its instance is discarded and the failure policy answers.
const (
	maxHeaderOps   = 256      // header sets, adds and removes per call
	maxHeaderBytes = 64 << 10 // bytes of names and values the guest sets
	maxGuestBody   = 1 << 20  // bytes of response body a guest may write
	maxLogMessage  = 1 << 10  // longer guest log messages are cut
)

// Headers that picket adds to the guest's view of the request. They never
// reach the request that is passed on; a client sending them is not
// believed (the guest sees the host's values only).
// Host is shown too, since Go keeps it outside the header map; it is
// read-only for the guest like the others.
const (
	headerSource       = "x-picket-source"
	headerVerifiedPull = "x-picket-verified-pull"
	headerScheme       = "x-picket-scheme"
	headerHost         = "host"
)

var syntheticNames = []string{headerHost, headerSource, headerVerifiedPull, headerScheme}

type phase int

const (
	phaseInit phase = iota
	phaseRequest
	phaseResponse
)

// call is the host's state for one guest call: the request, the guest's
// pending changes to it, and the response the guest is writing.
type call struct {
	phase   phase
	logger  *zap.Logger
	ceiling zapcore.Level

	r      *http.Request
	client *edge.Client

	// request changes, applied only when the guest returns normally
	header    http.Header // copy of r.Header, made on the first change
	method    string
	uri       *url.URL
	rawURI    string
	body      []byte // the request body, read once and kept for next
	bodyRead  bool
	bodyPos   int
	newBody   *bytes.Buffer
	maxBody   int64
	w         http.ResponseWriter // for the read deadline on the body
	deadline  time.Time
	headerOps int
	headerLen int

	// the guest's own response (request phase) or the origin's (response
	// phase)
	status     int
	respHeader http.Header
	respBody   bytes.Buffer
	upstream   *statusWriter
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		panic(guestFault("BUG: host function called without call state"))
	}
	return c
}

// guestFault is the panic value of a host function refusing a guest's
// request; wazero turns it into an error from the guest call.
type guestFault string

func (f guestFault) Error() string { return string(f) }

func newCall(r *http.Request, logger *zap.Logger, ceiling zapcore.Level, maxBody int64) *call {
	c := &call{phase: phaseRequest, logger: logger, ceiling: ceiling, r: r, maxBody: maxBody}
	c.client, _ = edge.From(r)
	return c
}

func (c *call) mustRequestPhase(what string) {
	if c.phase != phaseRequest {
		panic(guestFault(what + " is only allowed while handling the request"))
	}
}

func (c *call) mustResponsePhase(what string) {
	if c.phase != phaseResponse {
		panic(guestFault(what + " is only allowed while handling the response"))
	}
}

func (c *call) mustHaveRequest(what string) {
	if c.phase == phaseInit {
		panic(guestFault(what + " is not allowed while the guest starts"))
	}
}

// requestHeader is the header map the guest reads and changes.
func (c *call) requestHeader() http.Header {
	if c.header != nil {
		return c.header
	}
	return c.r.Header
}

func (c *call) writableRequestHeader() http.Header {
	if c.header == nil {
		c.header = c.r.Header.Clone()
		if c.header == nil {
			c.header = http.Header{}
		}
	}
	return c.header
}

func (c *call) responseHeader() http.Header {
	if c.respHeader == nil {
		c.respHeader = http.Header{}
	}
	return c.respHeader
}

// countHeaderOp enforces maxHeaderOps and maxHeaderBytes.
func (c *call) countHeaderOp(name, value string) {
	c.headerOps++
	c.headerLen += len(name) + len(value)
	if c.headerOps > maxHeaderOps || c.headerLen > maxHeaderBytes {
		panic(guestFault("too many header changes"))
	}
}

// synthetic returns the host-added header values for lower-case name, and
// whether name is one of the host's names at all.
func (c *call) synthetic(name string) ([]string, bool) {
	switch name {
	case headerHost:
		if c.r.Host == "" {
			return nil, true
		}
		return []string{c.r.Host}, true
	case headerScheme:
		if c.r.TLS != nil {
			return []string{"https"}, true
		}
		return []string{"http"}, true
	case headerSource:
		if c.client == nil || c.client.Source == "" {
			return nil, true
		}
		return []string{string(c.client.Source)}, true
	case headerVerifiedPull:
		if c.client == nil {
			return nil, true
		}
		if c.client.VerifiedPull {
			return []string{"1"}, true
		}
		return []string{"0"}, true
	}
	return nil, false
}

// requestHeaderNames lists the guest's view of the request header names.
func (c *call) requestHeaderNames() []string {
	h := c.requestHeader()
	names := make([]string, 0, len(h)+2)
	for n := range h {
		l := strings.ToLower(n)
		if _, reserved := c.synthetic(l); !reserved {
			names = append(names, l)
		}
	}
	for _, n := range syntheticNames {
		if v, _ := c.synthetic(n); len(v) > 0 {
			names = append(names, n)
		}
	}
	return names
}

func (c *call) requestHeaderValues(name string) []string {
	if v, ok := c.synthetic(strings.ToLower(name)); ok {
		return v
	}
	return c.requestHeader().Values(name)
}

// sourceAddr is the get_source_addr answer: the trusted client IP decided
// by the edge modules (port 0: the client's port is not known past a CDN),
// "" for onion traffic, and the peer when no decision was made.
func (c *call) sourceAddr() string {
	if c.client != nil {
		if !c.client.IP.IsValid() {
			return ""
		}
		return netip.AddrPortFrom(c.client.IP.Unmap(), 0).String()
	}
	return c.r.RemoteAddr
}

// uriString is the request target the guest sees.
func (c *call) uriString() string {
	if c.uri != nil {
		return c.rawURI
	}
	return c.r.URL.RequestURI()
}

func (c *call) setURI(s string) {
	u, err := url.ParseRequestURI(s)
	if err != nil || s == "" || s[0] != '/' {
		panic(guestFault("set_uri: not an origin-form request target"))
	}
	c.uri, c.rawURI = u, s
}

func (c *call) methodString() string {
	if c.method != "" {
		return c.method
	}
	return c.r.Method
}

// readRequestBody fills buf from the request body, which is read once (up
// to maxBody bytes) and kept for the next handler. The guest's deadline is
// set as the connection's read deadline meanwhile: a host function cannot
// be interrupted, so a client trickling its body would otherwise hold the
// guest past it.
func (c *call) readRequestBody(buf []byte) (n int, eof bool) {
	if !c.bodyRead {
		c.bodyRead = true
		if c.r.Body != nil && c.r.Body != http.NoBody {
			if c.w != nil && !c.deadline.IsZero() {
				rc := http.NewResponseController(c.w)
				if rc.SetReadDeadline(c.deadline) == nil {
					defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
				}
			}
			orig := c.r.Body
			b, err := io.ReadAll(io.LimitReader(orig, c.maxBody+1))
			// whatever happens next, the request keeps its whole body: a
			// fail_open pass after a failed guest must send on what the
			// client sent, not the part the guest left unread
			c.r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), orig), orig}
			if err != nil {
				panic(guestFault("read_body: the request body could not be read"))
			}
			if int64(len(b)) > c.maxBody {
				panic(guestFault("read_body: the request body is over the limit"))
			}
			c.body = b
		}
	}
	n = copy(buf, c.body[c.bodyPos:])
	c.bodyPos += n
	return n, c.bodyPos == len(c.body)
}

// apply commits the guest's changes to the request that is passed on, and
// the response headers it set to the response the next handler writes.
// A status or body the guest wrote before passing the request on is sent
// first, as other http-wasm hosts do; the next handler's then comes too
// late to change it.
func (c *call) apply(w http.ResponseWriter) {
	wh := w.Header()
	for k, vs := range c.respHeader {
		wh[k] = vs
	}
	if c.status != 0 {
		w.WriteHeader(c.status)
	}
	if c.respBody.Len() > 0 {
		_, _ = w.Write(c.respBody.Bytes())
	}
	r := c.r
	if c.header != nil {
		r.Header = c.header
	}
	if c.method != "" {
		r.Method = c.method
	}
	if c.uri != nil {
		r.URL.Path, r.URL.RawPath = c.uri.Path, c.uri.RawPath
		r.URL.RawQuery = c.uri.RawQuery
		r.RequestURI = c.rawURI
	}
	switch {
	case c.newBody != nil:
		r.Body = io.NopCloser(c.newBody)
		r.ContentLength = int64(c.newBody.Len())
		r.Header.Del("Content-Length")
	case c.bodyRead:
		r.Body = io.NopCloser(bytes.NewReader(c.body))
	}
}

// writeResponse sends the response the guest wrote in the request phase.
func (c *call) writeResponse(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range c.respHeader {
		h[k] = vs
	}
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(c.respBody.Bytes())
}

// statusWriter remembers the status the next handler wrote, for the
// response phase.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
