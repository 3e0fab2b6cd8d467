// Package hygiene provides the picket_header_hygiene handler, which removes
// inbound request headers that a client could use to lie about where it is or
// how it connected, before any later handler or the origin sees them.
package hygiene

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// spoofable lists the headers removed by default. They claim a client
// address, scheme or host on the sender's word; picket decides those itself
// (see RATIONALE.md, "Why strip instead of trust?").
var spoofable = []string{
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Forwarded-Port",
	"X-Forwarded-Prefix",
	"X-Forwarded-Server",
	"X-Forwarded-Ssl",
	"X-Real-Ip",
	"X-Client-Ip",
	"X-Cluster-Client-Ip",
	"X-Original-Forwarded-For",
	"X-Originating-Ip",
	"X-Remote-Addr",
	"X-Remote-Ip",
	"Client-Ip",
	"True-Client-Ip",
	"Fastly-Client-Ip",
	"Via",
}

// spoofablePrefixes lists header-name prefixes removed by default: all of
// Cloudflare's request headers (CF-Connecting-IP, CF-IPCountry, CF-Ray, ...),
// which only Cloudflare may set and which the lock-down module reads before
// this handler runs, and picket's own (X-Picket-Client, the signed header
// to the origin, and any name a later version may give meaning to).
var spoofablePrefixes = []string{"Cf-", "X-Picket-"}

// Handler removes spoofable inbound request headers.
//
// With no configuration it removes the built-in set (X-Forwarded-*,
// Forwarded, X-Real-IP, True-Client-IP, CF-* and similar). Extra names and
// prefixes can be added; the built-in set cannot be turned off, because a
// gateway that forwards these headers lets any client choose its own address.
type Handler struct {
	// Extra header names to remove, case-insensitive.
	Remove []string `json:"remove,omitempty"`

	// Extra header-name prefixes to remove, case-insensitive.
	RemovePrefixes []string `json:"remove_prefixes,omitempty"`

	names    map[string]struct{}
	prefixes []string
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_header_hygiene",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision builds the lookup tables.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.names = make(map[string]struct{}, len(spoofable)+len(h.Remove))
	for _, n := range append(append([]string(nil), spoofable...), h.Remove...) {
		h.names[http.CanonicalHeaderKey(n)] = struct{}{}
	}
	for _, p := range append(append([]string(nil), spoofablePrefixes...), h.RemovePrefixes...) {
		h.prefixes = append(h.prefixes, strings.ToLower(p))
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	for _, n := range h.Remove {
		if !validToken(n) {
			return fmt.Errorf("remove: %q is not a valid header name", n)
		}
	}
	for _, p := range h.RemovePrefixes {
		if p == "" || !validToken(p) {
			return fmt.Errorf("remove_prefixes: %q is not a valid header-name prefix", p)
		}
	}
	return nil
}

// ServeHTTP strips the headers and calls the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	Strip(r.Header, h.names, h.prefixes)
	return next.ServeHTTP(w, r)
}

// Strip removes from hdr every header named in names (canonical form) or
// starting with one of prefixes (lower case). Keys are matched in any case:
// a map filled by code rather than by the server's parser may hold
// non-canonical keys.
func Strip(hdr http.Header, names map[string]struct{}, prefixes []string) {
	for k := range hdr {
		if _, ok := names[http.CanonicalHeaderKey(k)]; ok {
			delete(hdr, k)
			continue
		}
		for _, p := range prefixes {
			if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
				delete(hdr, k)
				break
			}
		}
	}
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
