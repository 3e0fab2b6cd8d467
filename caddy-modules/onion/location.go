package onion

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/internal/edge"
)

func init() {
	caddy.RegisterModule(Location{})
}

// Location sets the Onion-Location header on clearnet HTTPS responses with
// an HTML body, pointing at the same path and query on the onion address, so
// that Tor Browser offers the onion site. Any Onion-Location from upstream is
// replaced on those responses and removed from all others; it is never sent
// over plain HTTP or on the onion site itself.
type Location struct {
	// Address is the onion address. Default: the running picket_onion
	// app's address.
	Address string `json:"address,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Location) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_onion_location",
		New: func() caddy.Module { return new(Location) },
	}
}

// Validate checks the configuration.
func (l *Location) Validate() error {
	if l.Address != "" && (!strings.HasSuffix(l.Address, ".onion") || len(l.Address) != 62) {
		return fmt.Errorf("address: %q is not a v3 onion address", l.Address)
	}
	return nil
}

// ServeHTTP wraps the response writer.
func (l *Location) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	target := ""
	if r.TLS != nil && !isOnion(r) {
		if addr := l.address(); addr != "" {
			target = "http://" + addr + originalURI(r)
		}
	}
	lw := &locationWriter{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		target:                target,
	}
	err := next.ServeHTTP(lw, r)
	lw.finish()
	return err
}

func (l *Location) address() string {
	if l.Address != "" {
		return l.Address
	}
	st, _ := Status()
	return st.Address
}

// isOnion reports whether r came over the onion service, by source class or
// by listener.
func isOnion(r *http.Request) bool {
	if c, ok := edge.From(r); ok && c.Source == edge.SourceOnion {
		return true
	}
	_, ok := circuitOf(r)
	return ok
}

// originalURI is the path and query the client asked for, before rewrites.
func originalURI(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.RequestURI()
	}
	return r.URL.RequestURI()
}

// locationWriter settles the Onion-Location header when the response
// header is written. A response written without a Content-Type has its
// status held back until the first body bytes show the type, as net/http
// would sniff it.
type locationWriter struct {
	*caddyhttp.ResponseWriterWrapper
	target  string
	written bool
	pending int
}

func (lw *locationWriter) WriteHeader(status int) {
	switch {
	case lw.written || lw.pending != 0:
		return
	case status < 200:
		lw.ResponseWriterWrapper.WriteHeader(status)
	case lw.target != "" && lw.Header().Get("Content-Type") == "" && bodyAllowed(status):
		lw.pending = status
	default:
		lw.commit(status, nil)
	}
}

// commit writes the header for status; body is the first body bytes, if
// any, for sniffing an unset Content-Type.
func (lw *locationWriter) commit(status int, body []byte) {
	lw.written = true
	h := lw.Header()
	h.Del("Onion-Location")
	if h.Get("Content-Type") == "" && body != nil && h.Get("X-Content-Type-Options") != "nosniff" {
		h.Set("Content-Type", http.DetectContentType(body))
	}
	if lw.target != "" && isHTML(h.Get("Content-Type")) {
		h.Set("Onion-Location", lw.target)
	}
	lw.ResponseWriterWrapper.WriteHeader(status)
}

func (lw *locationWriter) status() int {
	if lw.pending != 0 {
		return lw.pending
	}
	return http.StatusOK
}

func (lw *locationWriter) Write(p []byte) (int, error) {
	if !lw.written {
		lw.commit(lw.status(), p)
	}
	return lw.ResponseWriterWrapper.Write(p)
}

func (lw *locationWriter) ReadFrom(r io.Reader) (int64, error) {
	if !lw.written {
		lw.commit(lw.status(), nil)
	}
	return lw.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError commits a held-back header before flushing.
func (lw *locationWriter) FlushError() error {
	if !lw.written {
		lw.commit(lw.status(), nil)
	}
	return http.NewResponseController(lw.ResponseWriterWrapper.ResponseWriter).Flush()
}

// finish writes a header still held back when the handler returns without
// a body.
func (lw *locationWriter) finish() {
	if !lw.written && lw.pending != 0 {
		lw.commit(lw.pending, nil)
	}
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

func isHTML(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// Interface guards
var (
	_ caddy.Validator             = (*Location)(nil)
	_ caddyhttp.MiddlewareHandler = (*Location)(nil)
	_ http.ResponseWriter         = (*locationWriter)(nil)
)
