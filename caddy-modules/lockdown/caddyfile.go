package lockdown

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/internal/caddyargs"
)

func init() {
	httpcaddyfile.RegisterGlobalOption(AppName, parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("picket_client_ip", parseClientIP)
	// first of all handlers: it must read CF-Connecting-IP before
	// picket_header_hygiene (ordered before map, right after tracing) removes
	// it, and decide the client before anything else looks at it. Anchored on
	// tracing because plugins may only name standard directives.
	httpcaddyfile.RegisterDirectiveOrder("picket_client_ip", httpcaddyfile.Before, "tracing")
}

// UnmarshalCaddyfile reads the global option. Syntax:
//
//	picket_cloudflare {
//	    api_base_url      <url>
//	    refresh_interval  <duration>
//	    fetch_timeout     <duration>
//	    static            <cidr...>
//	    no_fetch
//	}
func (c *Cloudflare) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "api_base_url":
			err = caddyargs.One(d, &c.APIBaseURL)
		case "refresh_interval":
			err = parseDuration(d, &c.RefreshInterval)
		case "fetch_timeout":
			err = parseDuration(d, &c.FetchTimeout)
		case "static":
			err = caddyargs.Append(d, &c.Static)
		case "no_fetch":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.NoFetch = true
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	c := new(Cloudflare)
	if err := c.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: AppName, Value: caddyconfig.JSON(c, nil)}, nil
}

// UnmarshalCaddyfile reads the listener wrapper. Syntax:
//
//	picket_admission {
//	    allow <cidr...>
//	}
func (a *Admission) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // wrapper name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "allow":
			if err := caddyargs.Append(d, &a.Allow); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile reads the handler. Syntax:
//
//	picket_client_ip {
//	    admission   close|forbidden|off
//	    allow       <cidr...>
//	    source      onion
//	    origin_key  <key or placeholder>
//	}
func (h *ClientIP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "admission":
			err = caddyargs.One(d, &h.Admission)
		case "allow":
			err = caddyargs.Append(d, &h.Allow)
		case "source":
			err = caddyargs.One(d, &h.Source)
		case "origin_key":
			err = caddyargs.One(d, &h.OriginKey)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseClientIP(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(ClientIP)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := caddyargs.One(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("parsing duration %q: %v", s, err)
	}
	if v <= 0 || v > 100*365*24*time.Hour {
		return d.Errf("duration %q out of range", s)
	}
	*dst = caddy.Duration(v)
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Cloudflare)(nil)
	_ caddyfile.Unmarshaler = (*Admission)(nil)
	_ caddyfile.Unmarshaler = (*ClientIP)(nil)
)
