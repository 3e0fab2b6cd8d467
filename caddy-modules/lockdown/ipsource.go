package lockdown

import (
	"net/http"
	"net/netip"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(IPSource{})
}

// IPSource is http.ip_sources.picket_cloudflare: the picket_cloudflare
// range list for a server's trusted_proxies. IPv4 ranges are also given in
// their IPv4-mapped IPv6 form so that Caddy's own matching of mapped peers
// agrees with admission.
//
//	trusted_proxies picket_cloudflare
type IPSource struct {
	cf *Cloudflare
}

// CaddyModule returns the Caddy module information.
func (IPSource) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ip_sources.picket_cloudflare",
		New: func() caddy.Module { return new(IPSource) },
	}
}

// Provision loads the shared list.
func (s *IPSource) Provision(ctx caddy.Context) error {
	var err error
	s.cf, err = cloudflareApp(ctx)
	return err
}

// GetIPRanges returns the ranges in force.
func (s *IPSource) GetIPRanges(*http.Request) []netip.Prefix {
	return s.cf.prefixes()
}

// UnmarshalCaddyfile takes no arguments: trusted_proxies picket_cloudflare
func (s *IPSource) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("picket_cloudflare takes no block; configure the %s global option", AppName)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*IPSource)(nil)
	_ caddyhttp.IPRangeSource = (*IPSource)(nil)
	_ caddyfile.Unmarshaler   = (*IPSource)(nil)
)
