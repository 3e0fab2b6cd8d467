package wasmpolicy

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/picket-edge/picket/internal/logfield"
)

// ABI constants of the http-wasm handler ABI (http-wasm.io).
const (
	kindRequest          = 0
	kindResponse         = 1
	kindRequestTrailers  = 2
	kindResponseTrailers = 3

	featureBufferRequest = 1 << 0
)

// Every host function decodes its parameters, acts on the call in ctx and
// writes its result back. Anything the guest gets wrong (memory out of
// bounds, a call in the wrong phase, a limit) panics with a guestFault,
// which wazero returns as the guest call's error.

func (m *module) instantiateHost(ctx context.Context) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := m.runtime.NewHostModuleBuilder("http_handler")
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	p := func(ts ...api.ValueType) []api.ValueType { return ts }

	fn("enable_features", enableFeatures, p(i32), p(i32))
	fn("get_config", m.getConfig, p(i32, i32), p(i32))
	fn("log_enabled", logEnabled, p(i32), p(i32))
	fn("log", logMessage, p(i32, i32, i32), nil)
	fn("get_method", getMethod, p(i32, i32), p(i32))
	fn("set_method", setMethod, p(i32, i32), nil)
	fn("get_uri", getURI, p(i32, i32), p(i32))
	fn("set_uri", setURI, p(i32, i32), nil)
	fn("get_protocol_version", getProtocolVersion, p(i32, i32), p(i32))
	fn("get_header_names", getHeaderNames, p(i32, i32, i32), p(i64))
	fn("get_header_values", getHeaderValues, p(i32, i32, i32, i32, i32), p(i64))
	fn("set_header_value", setHeaderValue, p(i32, i32, i32, i32, i32), nil)
	fn("add_header_value", addHeaderValue, p(i32, i32, i32, i32, i32), nil)
	fn("remove_header", removeHeader, p(i32, i32, i32), nil)
	fn("read_body", readBody, p(i32, i32, i32), p(i64))
	fn("write_body", writeBody, p(i32, i32, i32), nil)
	fn("get_status_code", getStatusCode, nil, p(i32))
	fn("set_status_code", setStatusCode, p(i32), nil)
	fn("get_source_addr", getSourceAddr, p(i32, i32), p(i32))
	_, err := b.Instantiate(ctx)
	return err
}

// read returns guest memory [ptr, ptr+n) or faults.
func read(mod api.Module, ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(guestFault("guest passed memory outside its bounds"))
	}
	return b
}

func readString(mod api.Module, ptr, n uint32) string {
	return string(read(mod, ptr, n))
}

// writeLimited writes v at ptr when it fits in limit and returns len(v)
// either way, so that the guest can retry with a bigger buffer.
func writeLimited(mod api.Module, ptr, limit uint32, v string) uint64 {
	n := uint32(len(v))
	if n == 0 || n > limit {
		return uint64(n)
	}
	if !mod.Memory().WriteString(ptr, v) {
		panic(guestFault("guest passed memory outside its bounds"))
	}
	return uint64(n)
}

// writeList writes vs as NUL-terminated strings and returns count<<32|len.
func writeList(mod api.Module, ptr, limit uint32, vs []string) uint64 {
	size := 0
	for _, v := range vs {
		size += len(v) + 1
	}
	result := uint64(len(vs))<<32 | uint64(uint32(size))
	if size == 0 || uint32(size) > limit {
		return result
	}
	buf, ok := mod.Memory().Read(ptr, uint32(size))
	if !ok {
		panic(guestFault("guest passed memory outside its bounds"))
	}
	i := 0
	for _, v := range vs {
		i += copy(buf[i:], v)
		buf[i] = 0
		i++
	}
	return result
}

func enableFeatures(_ context.Context, _ api.Module, stack []uint64) {
	// the request body is always kept for the next handler; response
	// buffering and trailers are not supported (see docs/wasm.md)
	stack[0] = uint64(uint32(stack[0]) & featureBufferRequest)
}

func (m *module) getConfig(_ context.Context, mod api.Module, stack []uint64) {
	stack[0] = writeLimited(mod, uint32(stack[0]), uint32(stack[1]), string(m.spec.config))
}

// guestLevel maps an ABI log level to zap, capped at the ceiling: a guest
// can never log louder than its operator allowed.
func guestLevel(level int32, ceiling zapcore.Level) (zapcore.Level, bool) {
	var l zapcore.Level
	switch {
	case level <= -1:
		l = zap.DebugLevel
	case level == 0:
		l = zap.InfoLevel
	case level == 1:
		l = zap.WarnLevel
	case level == 2:
		l = zap.ErrorLevel
	default:
		return 0, false // "none"
	}
	return min(l, ceiling), true
}

func logEnabled(ctx context.Context, _ api.Module, stack []uint64) {
	c := callFrom(ctx)
	l, ok := guestLevel(int32(uint32(stack[0])), c.ceiling)
	if ok && c.logger.Core().Enabled(l) {
		stack[0] = 1
	} else {
		stack[0] = 0
	}
}

func logMessage(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	l, ok := guestLevel(int32(uint32(stack[0])), c.ceiling)
	if !ok {
		return
	}
	ce := c.logger.Check(l, "guest log")
	if ce == nil {
		return
	}
	n := min(uint32(stack[2]), maxLogMessage)
	ce.Write(zap.String(logfield.GuestMessage, readString(mod, uint32(stack[1]), n)))
}

func getMethod(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_method")
	stack[0] = writeLimited(mod, uint32(stack[0]), uint32(stack[1]), c.methodString())
}

func setMethod(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustRequestPhase("set_method")
	m := readString(mod, uint32(stack[0]), uint32(stack[1]))
	if m == "" || !validToken(m) {
		panic(guestFault("set_method: not a valid method"))
	}
	c.method = m
}

func getURI(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_uri")
	stack[0] = writeLimited(mod, uint32(stack[0]), uint32(stack[1]), c.uriString())
}

func setURI(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustRequestPhase("set_uri")
	c.setURI(readString(mod, uint32(stack[0]), uint32(stack[1])))
}

func getProtocolVersion(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_protocol_version")
	stack[0] = writeLimited(mod, uint32(stack[0]), uint32(stack[1]), c.r.Proto)
}

func getSourceAddr(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_source_addr")
	stack[0] = writeLimited(mod, uint32(stack[0]), uint32(stack[1]), c.sourceAddr())
}

// responseHeaderForRead is the response header map a guest may read: the
// origin's, and only in the response phase.
func (c *call) responseHeaderForRead() http.Header {
	c.mustResponsePhase("reading response headers")
	return c.upstream.Header()
}

func getHeaderNames(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_header_names")
	var names []string
	switch uint32(stack[0]) {
	case kindRequest:
		names = c.requestHeaderNames()
	case kindResponse:
		for n := range c.responseHeaderForRead() {
			names = append(names, strings.ToLower(n))
		}
	case kindRequestTrailers, kindResponseTrailers:
		// trailers are not supported: none exist
	default:
		panic(guestFault("get_header_names: unknown header kind"))
	}
	stack[0] = writeList(mod, uint32(stack[1]), uint32(stack[2]), names)
}

func getHeaderValues(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustHaveRequest("get_header_values")
	name := readString(mod, uint32(stack[1]), uint32(stack[2]))
	if name == "" {
		panic(guestFault("get_header_values: empty header name"))
	}
	var values []string
	switch uint32(stack[0]) {
	case kindRequest:
		values = c.requestHeaderValues(name)
	case kindResponse:
		values = c.responseHeaderForRead().Values(name)
	case kindRequestTrailers, kindResponseTrailers:
	default:
		panic(guestFault("get_header_values: unknown header kind"))
	}
	stack[0] = writeList(mod, uint32(stack[3]), uint32(stack[4]), values)
}

// headerToChange returns the map a header change of kind applies to: the
// pending request headers, or the guest's own response. Both only in the
// request phase: the origin's response is already on its way.
func (c *call) headerToChange(kind uint32, name, value string) http.Header {
	c.mustRequestPhase("changing headers")
	if name == "" || !validToken(name) || !validValue(value) {
		panic(guestFault("not a valid header name or value"))
	}
	c.countHeaderOp(name, value)
	switch kind {
	case kindRequest:
		if _, reserved := c.synthetic(strings.ToLower(name)); reserved {
			panic(guestFault("header " + name + " is reserved for the host"))
		}
		return c.writableRequestHeader()
	case kindResponse:
		return c.responseHeader()
	case kindRequestTrailers, kindResponseTrailers:
		panic(guestFault("trailers are not supported"))
	}
	panic(guestFault("unknown header kind"))
}

func setHeaderValue(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	name := readString(mod, uint32(stack[1]), uint32(stack[2]))
	value := readString(mod, uint32(stack[3]), uint32(stack[4]))
	c.headerToChange(uint32(stack[0]), name, value).Set(name, value)
}

func addHeaderValue(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	name := readString(mod, uint32(stack[1]), uint32(stack[2]))
	value := readString(mod, uint32(stack[3]), uint32(stack[4]))
	c.headerToChange(uint32(stack[0]), name, value).Add(name, value)
}

func removeHeader(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	name := readString(mod, uint32(stack[1]), uint32(stack[2]))
	c.headerToChange(uint32(stack[0]), name, "").Del(name)
}

func readBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustRequestPhase("read_body")
	if uint32(stack[0]) != kindRequest {
		panic(guestFault("read_body: only the request body can be read"))
	}
	limit := uint32(stack[2])
	if limit == 0 {
		panic(guestFault("read_body: zero buffer"))
	}
	buf := read(mod, uint32(stack[1]), limit)
	n, eof := c.readRequestBody(buf)
	stack[0] = uint64(uint32(n))
	if eof {
		stack[0] |= 1 << 32
	}
}

func writeBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustRequestPhase("write_body")
	b := read(mod, uint32(stack[1]), uint32(stack[2]))
	switch uint32(stack[0]) {
	case kindRequest:
		if c.newBody == nil {
			c.newBody = new(bytes.Buffer)
		}
		if int64(c.newBody.Len()+len(b)) > c.maxBody {
			panic(guestFault("write_body: request body over the limit"))
		}
		c.newBody.Write(b)
	case kindResponse:
		if c.respBody.Len()+len(b) > maxGuestBody {
			panic(guestFault("write_body: response body over the limit"))
		}
		c.respBody.Write(b)
	default:
		panic(guestFault("write_body: unknown body kind"))
	}
}

func getStatusCode(ctx context.Context, _ api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustResponsePhase("get_status_code")
	stack[0] = uint64(c.upstream.status)
}

func setStatusCode(ctx context.Context, _ api.Module, stack []uint64) {
	c := callFrom(ctx)
	c.mustRequestPhase("set_status_code")
	code := uint32(stack[0])
	if code < 200 || code > 599 {
		panic(guestFault("set_status_code: status out of range"))
	}
	c.status = int(code)
}

// validToken reports whether s is an RFC 9110 token (method or header
// name).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", ch) >= 0 {
			return false
		}
	}
	return s != ""
}

// validValue rejects control characters that would split a header.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; (ch < ' ' && ch != '\t') || ch == 0x7f {
			return false
		}
	}
	return true
}
