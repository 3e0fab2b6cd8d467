package lockdown

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/internal/edge"
)

func init() {
	caddy.RegisterModule(MatchSource{})
}

// MatchSource is http.matchers.picket_source: it matches requests whose
// source class (decided by picket_client_ip or the onion module) is one of
// the listed classes.
//
//	@onion picket_source onion
//	@edge  picket_source cloudflare local
//
// A request with no source class matches nothing. Matchers in a route run
// before that route's handlers, so use this matcher in a route that comes
// after picket_client_ip (the directive order takes care of that for
// handle, route and reverse_proxy blocks).
type MatchSource []string

// CaddyModule returns the Caddy module information.
func (MatchSource) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.picket_source",
		New: func() caddy.Module { return new(MatchSource) },
	}
}

// Validate checks the class names.
func (m MatchSource) Validate() error {
	if len(m) == 0 {
		return fmt.Errorf("picket_source: no source class given")
	}
	for _, s := range m {
		switch edge.Source(s) {
		case edge.SourceCloudflare, edge.SourceOnion, edge.SourceLocal:
		default:
			return fmt.Errorf("picket_source: unknown source class %q", s)
		}
	}
	return nil
}

// Match reports whether the request's source class is listed.
func (m MatchSource) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError is Match; it never fails.
func (m MatchSource) MatchWithError(r *http.Request) (bool, error) {
	c, ok := edge.From(r)
	if !ok {
		return false, nil
	}
	for _, s := range m {
		if edge.Source(s) == c.Source {
			return true, nil
		}
	}
	return false, nil
}

// UnmarshalCaddyfile reads the class names: picket_source <class...>
func (m *MatchSource) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*m = append(*m, args...)
		if d.NextBlock(0) {
			return d.Err("picket_source takes no block")
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Validator                   = (*MatchSource)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSource)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSource)(nil)
)
