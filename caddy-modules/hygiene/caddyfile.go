package hygiene

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("picket_header_hygiene", parseCaddyfile)
	// runs first among the handlers we control, so that nothing after it
	// (rewrites, matchers, the proxy) ever sees a client-chosen address.
	httpcaddyfile.RegisterDirectiveOrder("picket_header_hygiene",
		httpcaddyfile.Before, "map")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	picket_header_hygiene {
//	    remove         <name...>
//	    remove_prefix  <prefix...>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "remove":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Remove = append(h.Remove, args...)
		case "remove_prefix":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.RemovePrefixes = append(h.RemovePrefixes, args...)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
