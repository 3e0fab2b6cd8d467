//go:build wasip1

// Package guest is picket's small SDK for writing HTTP policies in standard
// Go that run in picket's WebAssembly host (and in any other http-wasm host).
//
// A policy is a main package built for GOOS=wasip1 as a reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o policy.wasm .
//
// It registers one function in init; the host calls it once per request:
//
//	func init() {
//		guest.HandleRequest(func(req guest.Request, resp guest.Response) bool {
//			if req.Path() == "/forbidden" {
//				resp.Deny(403, "forbidden")
//				return false // the response is ours, the origin is not asked
//			}
//			return true // pass the request on
//		})
//	}
//
//	func main() {}
//
// See docs/wasm.md for building, testing, pinning and deploying a policy.
package guest

import (
	"strings"
	"unsafe"
)

// Handler decides one request. Returning true passes the request on to the
// next handler; returning false ends it with whatever was written to resp
// (status 200 with an empty body if nothing was).
type Handler func(req Request, resp Response) (next bool)

var handler Handler = func(Request, Response) bool { return true }

// HandleRequest sets the policy's handler. Call it from init.
func HandleRequest(h Handler) { handler = h }

//go:wasmexport handle_request
func handleRequest() uint64 {
	if handler(Request{}, Response{}) {
		return 1
	}
	return 0
}

//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) {}

// Config returns the configuration blob the host was given for this
// policy (the Caddyfile's config value), or nil.
func Config() []byte {
	n := getConfig(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	if n == 0 {
		return nil
	}
	if int(n) > len(scratch) {
		scratch = make([]byte, n)
		n = getConfig(unsafe.Pointer(&scratch[0]), uint32(len(scratch)))
	}
	return append([]byte(nil), scratch[:n]...)
}

// Log levels of the http-wasm ABI.
const (
	LevelDebug int32 = -1
	LevelInfo  int32 = 0
	LevelWarn  int32 = 1
	LevelError int32 = 2
)

// Log writes msg to the host's log at level, or at the host's ceiling if
// that is lower. Never log addresses, user agents or other personal data:
// policies see them, logs must not.
func Log(level int32, msg string) {
	if logEnabled(level) == 0 {
		return
	}
	logMessage(level, ptr(msg), uint32(len(msg)))
}

// Request is the incoming request as the policy sees it.
type Request struct{}

// Method returns the request method, e.g. "GET".
func (Request) Method() string { return readString(getMethod) }

// URI returns the request target: path and query, as sent.
func (Request) URI() string { return readString(getURI) }

// Path returns the URI without its query.
func (r Request) Path() string {
	u := r.URI()
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// Protocol returns the protocol version, e.g. "HTTP/1.1" or "HTTP/2.0".
func (Request) Protocol() string { return readString(getProtocolVersion) }

// SourceAddr returns the trusted client address as "ip:port" (port 0 when
// the client IP came from the CDN), or "" for onion traffic.
func (Request) SourceAddr() string { return readString(getSourceAddr) }

// HeaderNames returns the request's header names, lower case.
func (Request) HeaderNames() []string {
	return readList(func(buf unsafe.Pointer, limit uint32) uint64 {
		return getHeaderNames(kindRequest, buf, limit)
	})
}

// Header returns every value of the request header name (any case), in
// the order received; nil if absent.
func (Request) Header(name string) []string {
	return readList(func(buf unsafe.Pointer, limit uint32) uint64 {
		return getHeaderValues(kindRequest, ptr(name), uint32(len(name)), buf, limit)
	})
}

// SetHeader replaces the request header name before it is passed on.
func (Request) SetHeader(name, value string) {
	setHeaderValue(kindRequest, ptr(name), uint32(len(name)), ptr(value), uint32(len(value)))
}

// RemoveHeader removes the request header name before it is passed on.
func (Request) RemoveHeader(name string) {
	removeHeader(kindRequest, ptr(name), uint32(len(name)))
}

// Names of the headers picket's host adds to the policy's view of the
// request (and only to that view: they are never sent on).
const (
	HeaderSource       = "x-picket-source"
	HeaderVerifiedPull = "x-picket-verified-pull"
	HeaderScheme       = "x-picket-scheme"
)

// Host returns the request's host (the Host header or HTTP/2 :authority).
func (r Request) Host() string {
	if v := r.Header("host"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Scheme returns "https" when the request reached the gateway over TLS and
// "http" otherwise; "" when the host is not picket.
func (r Request) Scheme() string {
	if v := r.Header(HeaderScheme); len(v) == 1 {
		return v[0]
	}
	return ""
}

// Source returns the source class the gateway decided for the request:
// "cloudflare", "onion", "local", or "" when no decision was made (or
// when the host is not picket).
func (r Request) Source() string {
	if v := r.Header(HeaderSource); len(v) == 1 {
		return v[0]
	}
	return ""
}

// VerifiedPull reports whether the request came over a TLS connection
// with a verified Cloudflare origin-pull client certificate.
func (r Request) VerifiedPull() bool {
	v := r.Header(HeaderVerifiedPull)
	return len(v) == 1 && v[0] == "1"
}

// Response is the response a policy writes when it ends a request itself.
type Response struct{}

// SetStatus sets the status code.
func (Response) SetStatus(code int) { setStatusCode(uint32(code)) }

// SetHeader replaces the response header name.
func (Response) SetHeader(name, value string) {
	setHeaderValue(kindResponse, ptr(name), uint32(len(name)), ptr(value), uint32(len(value)))
}

// AddHeader adds a value to the response header name.
func (Response) AddHeader(name, value string) {
	addHeaderValue(kindResponse, ptr(name), uint32(len(name)), ptr(value), uint32(len(value)))
}

// Write appends body to the response body.
func (Response) Write(body string) {
	writeBody(kindResponse, ptr(body), uint32(len(body)))
}

// Deny is the usual refusal: status with picket's JSON error shape, code
// "policy_denied" and message msg. Keep msg short and free of request data.
func (r Response) Deny(status int, msg string) {
	r.SetStatus(status)
	r.SetHeader("content-type", "application/json; charset=utf-8")
	r.SetHeader("cache-control", "no-store")
	r.Write(`{"error":{"code":"policy_denied","message":"` + jsonEscape(msg) + `"}}` + "\n")
}

// jsonEscape escapes the characters JSON forbids in a string.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
