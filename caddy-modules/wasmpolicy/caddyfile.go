package wasmpolicy

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/internal/caddyargs"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("picket_wasm", parseCaddyfile)
	// policies decide before anything rewrites or answers the request, and
	// after header hygiene (ordered before "map"), which runs first.
	httpcaddyfile.RegisterDirectiveOrder("picket_wasm", httpcaddyfile.Before, "vars")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	picket_wasm [<matcher>] [<path.wasm>] {
//	    path             <path.wasm>
//	    sha256           <hex>
//	    config           <text>
//	    timeout          <duration>
//	    memory_limit     <pages>
//	    pool_size        <n>
//	    idle_timeout     <duration>
//	    init_timeout     <duration>
//	    max_body         <bytes>
//	    fail_open | fail_closed
//	    response_phase
//	    guest_log_level  debug|info|warn|error
//	}
//
// As with root, a path argument that begins with "/" reads as a path
// matcher: write a matcher first (picket_wasm * /etc/x.wasm) or use the
// path subdirective.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		h.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if err := h.unmarshalOption(d); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) unmarshalOption(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "path":
		return caddyargs.One(d, &h.Path)
	case "sha256":
		return caddyargs.One(d, &h.SHA256)
	case "config":
		return caddyargs.One(d, &h.Config)
	case "timeout":
		return durationArg(d, &h.Timeout)
	case "idle_timeout":
		return durationArg(d, &h.IdleTimeout)
	case "init_timeout":
		return durationArg(d, &h.InitTimeout)
	case "memory_limit":
		n, err := intArg(d)
		h.MemoryLimitPages = uint32(n)
		return err
	case "pool_size":
		n, err := intArg(d)
		h.PoolSize = n
		return err
	case "max_body":
		n, err := intArg(d)
		h.MaxBodyBytes = int64(n)
		return err
	case "guest_log_level":
		return caddyargs.One(d, &h.GuestLogLevel)
	case "fail_open", "fail_closed":
		if d.NextArg() {
			return d.ArgErr()
		}
		h.FailOpen = d.Val() == "fail_open"
		return nil
	case "response_phase":
		if d.NextArg() {
			return d.ArgErr()
		}
		h.ResponsePhase = true
		return nil
	}
	return d.Errf("unknown subdirective %q", d.Val())
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := caddyargs.One(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 || v > time.Hour {
		return d.Errf("%s: want a positive duration up to 1h, got %q", name, s)
	}
	*dst = caddy.Duration(v)
	return nil
}

func intArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	var s string
	if err := caddyargs.One(d, &s); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1<<30 {
		return 0, d.Errf("%s: want a positive integer, got %q", name, s)
	}
	return n, nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
