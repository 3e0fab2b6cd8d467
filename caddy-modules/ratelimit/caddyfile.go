package ratelimit

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/internal/caddyargs"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("picket_rate_limit", parseCaddyfile)
	// after rewrites, so that zones see the path that will be routed, and
	// before anything that does work for the request (auth, proxying); the
	// lock-down and hygiene handlers run earlier still, before "map".
	httpcaddyfile.RegisterDirectiveOrder("picket_rate_limit", httpcaddyfile.Before, "basic_auth")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	picket_rate_limit {
//	    secret <secret>
//	    handle_errors
//	    redis <address> | redis {
//	        address  <host:port>
//	        username <name>
//	        password <password>
//	        db       <n>
//	        prefix   <key prefix>
//	        timeout  <duration>
//	    }
//	    zone <name> {
//	        match {
//	            <matchers...>
//	        }
//	        source         onion|clearnet|cloudflare|local
//	        key            <placeholder>
//	        period         <duration>
//	        requests       <n>
//	        block          <duration>
//	        count_status   <status...>
//	        store          memory|redis
//	        on_store_error fail_closed|fail_open
//	        max_keys       <n>
//	    }
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "secret":
			err = caddyargs.One(d, &h.Secret)
		case "redis":
			h.Redis, err = parseRedis(d)
		case "handle_errors":
			h.HandleErrors = true
			if d.NextArg() {
				err = d.ArgErr()
			}
		case "zone":
			var z *ZoneConfig
			z, err = parseZone(d)
			h.Zones = append(h.Zones, z)
		default:
			err = d.Errf("unknown subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseRedis(d *caddyfile.Dispenser) (*RedisConfig, error) {
	rc := new(RedisConfig)
	if d.NextArg() {
		rc.Address = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "address":
			err = caddyargs.One(d, &rc.Address)
		case "username":
			err = caddyargs.One(d, &rc.Username)
		case "password":
			err = caddyargs.One(d, &rc.Password)
		case "prefix":
			err = caddyargs.One(d, &rc.Prefix)
		case "db":
			err = intArg(d, &rc.DB)
		case "timeout":
			err = durationArg(d, &rc.Timeout)
		default:
			err = d.Errf("unknown redis option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	if rc.Address == "" {
		return nil, d.Err("redis needs an address")
	}
	return rc, nil
}

func parseZone(d *caddyfile.Dispenser) (*ZoneConfig, error) {
	z := new(ZoneConfig)
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	z.Name = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := parseZoneOption(d, z); err != nil {
			return nil, err
		}
	}
	return z, nil
}

func parseZoneOption(d *caddyfile.Dispenser, z *ZoneConfig) error {
	switch d.Val() {
	case "match":
		set, err := caddyhttp.ParseCaddyfileNestedMatcherSet(d)
		if err != nil {
			return err
		}
		z.MatcherSetsRaw = append(z.MatcherSetsRaw, set)
		return nil
	case "source":
		return caddyargs.One(d, &z.Source)
	case "key":
		return caddyargs.One(d, &z.Key)
	case "period":
		return durationArg(d, &z.Period)
	case "requests":
		var n int
		err := intArg(d, &n)
		z.Requests = int64(n)
		return err
	case "block":
		return durationArg(d, &z.Block)
	case "count_status":
		return statusArgs(d, &z.CountStatus)
	case "store":
		return caddyargs.One(d, &z.Store)
	case "on_store_error":
		return caddyargs.One(d, &z.OnStoreError)
	case "max_keys":
		return intArg(d, &z.MaxKeys)
	}
	return d.Errf("unknown zone option %q", d.Val())
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	var s string
	if err := caddyargs.One(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("%q is not a number", s)
	}
	*dst = n
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := caddyargs.One(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%q is not a duration: %v", s, err)
	}
	*dst = caddy.Duration(v)
	return nil
}

func statusArgs(d *caddyfile.Dispenser, dst *[]int) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			return d.Errf("count_status: %q is not a status code", a)
		}
		*dst = append(*dst, n)
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
