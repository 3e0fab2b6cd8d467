package hygiene

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/internal/caddyargs"
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
		var err error
		switch d.Val() {
		case "remove":
			err = caddyargs.Append(d, &h.Remove)
		case "remove_prefix":
			err = caddyargs.Append(d, &h.RemovePrefixes)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
		if err != nil {
			return err
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
