package onion

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/edge"
)

func init() {
	caddy.RegisterModule(ReadOnly{})
}

// allowedMethods is the Allow header of a read-only site.
const allowedMethods = "GET, HEAD, OPTIONS"

// overrideHeaders name a method other than the request line's; frameworks
// that honour them would turn a GET into a write.
var overrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// ReadOnly lets only GET and HEAD through. OPTIONS is answered with Allow;
// every other method, protocol upgrades and method overrides are refused
// with a body that says writing needs the clearnet site (JSON for the app,
// HTML for browsers). HTTP/2 requests follow the same rules.
type ReadOnly struct {
	// Sources limits the policy to these source classes (see
	// internal/edge). Empty means every request. A request whose source
	// is not yet decided is held to the policy.
	Sources []string `json:"sources,omitempty"`

	// ClearnetURL is linked from the refusal page.
	ClearnetURL string `json:"clearnet_url,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (ReadOnly) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_read_only",
		New: func() caddy.Module { return new(ReadOnly) },
	}
}

// Validate checks the configuration.
func (ro *ReadOnly) Validate() error {
	for _, s := range ro.Sources {
		switch edge.Source(s) {
		case edge.SourceCloudflare, edge.SourceOnion, edge.SourceLocal:
		default:
			return fmt.Errorf("sources: unknown source class %q", s)
		}
	}
	if ro.ClearnetURL != "" {
		u, err := url.Parse(ro.ClearnetURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("clearnet_url: %q is not an https URL", ro.ClearnetURL)
		}
	}
	return nil
}

// ServeHTTP applies the policy.
func (ro *ReadOnly) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if ro.applies(r) && refuseWrite(w, r, ro.ClearnetURL) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

func (ro *ReadOnly) applies(r *http.Request) bool {
	if len(ro.Sources) == 0 {
		return true
	}
	c, ok := edge.From(r)
	if !ok || c.Source == "" {
		return true
	}
	for _, s := range ro.Sources {
		if edge.Source(s) == c.Source {
			return true
		}
	}
	return false
}

// refuseWrite answers r when the read-only policy does not let it through
// and reports whether it did.
func refuseWrite(w http.ResponseWriter, r *http.Request, clearnet string) bool {
	switch {
	case hasMethodOverride(r):
		refuse(w, r, http.StatusBadRequest, "method_override",
			"method overrides are not accepted here", clearnet)
	case r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "":
		refuse(w, r, http.StatusBadRequest, "upgrade_refused",
			"protocol upgrades are not accepted here", clearnet)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
			return false
		}
		refuse(w, r, http.StatusBadRequest, "body_not_allowed",
			"a read request must not carry a body", clearnet)
	case r.Method == http.MethodOptions:
		w.Header().Set("Allow", allowedMethods)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", allowedMethods)
		refuse(w, r, http.StatusMethodNotAllowed, "read_only",
			"this site is read-only: signing in and voting need the clearnet site", clearnet)
	}
	return true
}

// hasMethodOverride reports an override header or a _method query
// parameter (any case, percent-encoded or not).
func hasMethodOverride(r *http.Request) bool {
	for _, h := range overrideHeaders {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	for _, part := range strings.FieldsFunc(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if strings.EqualFold(strings.TrimSpace(key), "_method") {
			return true
		}
	}
	return false
}

// refuse writes the refusal as JSON, or as a short page when the client
// asks for HTML.
func refuse(w http.ResponseWriter, r *http.Request, status int, code, msg, clearnet string) {
	if !wantsHTML(r) {
		apierror.Write(w, status, code, msg, requestID(r))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	link := ""
	if clearnet != "" {
		link = fmt.Sprintf(` <a href="%s">Open the clearnet site</a>.`, html.EscapeString(clearnet))
	}
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\">"+
		"<title>%d %s</title>\n<h1>%s</h1>\n<p>%s.%s</p>\n</html>\n",
		status, http.StatusText(status), http.StatusText(status), html.EscapeString(msg), link)
}

// wantsHTML reports whether the Accept header names text/html; browsers do,
// the app asks for JSON.
func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}

func requestID(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	return repl.ReplaceAll("{http.request.uuid}", "")
}

// Interface guards
var (
	_ caddy.Validator             = (*ReadOnly)(nil)
	_ caddyhttp.MiddlewareHandler = (*ReadOnly)(nil)
)
