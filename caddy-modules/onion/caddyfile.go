package onion

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/internal/caddyargs"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("picket_onion", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("picket_onion_source", parseSource)
	httpcaddyfile.RegisterHandlerDirective("picket_read_only", parseReadOnly)
	httpcaddyfile.RegisterHandlerDirective("picket_onion_location", parseLocation)
	// the source must be known before anything that keys on it (rate
	// limits, policies) and before any header is read, like hygiene
	httpcaddyfile.RegisterDirectiveOrder("picket_onion_source", httpcaddyfile.Before, "map")
	httpcaddyfile.RegisterDirectiveOrder("picket_read_only", httpcaddyfile.Before, "map")
	// the header goes on every clearnet response, so it wraps the writer
	// before any handler that writes (header is the first of those)
	httpcaddyfile.RegisterDirectiveOrder("picket_onion_location", httpcaddyfile.Before, "header")
}

// UnmarshalCaddyfile sets up the app from the global option. Syntax:
//
//	picket_onion {
//	    tor_path       <path>
//	    data_dir       <path>
//	    socket         <path>
//	    address        <pinned address.onion>
//	    regenerate_key
//	    network        on|off
//	    virtual_port   <port>
//	    circuit_id     haproxy|none
//	    pow            on|off [<queue rate> <queue burst>]
//	    intro_dos      on|off [<rate> <burst>]
//	    max_streams    <n>
//	    intro_points   <n>
//	    backoff        <min> <max>
//	    testing_dir_authority <DirAuthority value>
//	}
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if err := a.unmarshalSub(d); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) unmarshalSub(d *caddyfile.Dispenser) error {
	switch d.Val() {
	case "tor_path":
		return caddyargs.One(d, &a.TorPath)
	case "data_dir":
		return caddyargs.One(d, &a.DataDir)
	case "socket":
		return caddyargs.One(d, &a.Socket)
	case "address":
		return caddyargs.One(d, &a.Address)
	case "regenerate_key":
		a.RegenerateKey = true
		return noArgs(d)
	case "network":
		return onOff(d, func(on bool) { a.EnableNetwork = on })
	case "virtual_port":
		return intArgs(d, &a.VirtualPort)
	case "circuit_id":
		return a.unmarshalCircuitID(d)
	case "pow":
		return onOffTuned(d, &a.DisablePoW, &a.PoWQueueRate, &a.PoWQueueBurst)
	case "intro_dos":
		return onOffTuned(d, &a.DisableIntroDoS, &a.IntroRate, &a.IntroBurst)
	case "max_streams":
		return intArgs(d, &a.MaxStreams)
	case "intro_points":
		return intArgs(d, &a.NumIntroPoints)
	case "backoff":
		return a.unmarshalBackoff(d)
	case "testing_dir_authority":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		a.TestingDirAuthorities = append(a.TestingDirAuthorities, joinArgs(args))
		return nil
	default:
		return d.Errf("unknown subdirective %q", d.Val())
	}
}

func (a *App) unmarshalCircuitID(d *caddyfile.Dispenser) error {
	var v string
	if err := caddyargs.One(d, &v); err != nil {
		return err
	}
	switch v {
	case "haproxy":
		a.DisableCircuitID = false
	case "none":
		a.DisableCircuitID = true
	default:
		return d.Errf("circuit_id: %q is neither haproxy nor none", v)
	}
	return nil
}

func (a *App) unmarshalBackoff(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	minD, err := caddy.ParseDuration(args[0])
	if err != nil {
		return d.Errf("backoff: %v", err)
	}
	maxD, err := caddy.ParseDuration(args[1])
	if err != nil {
		return d.Errf("backoff: %v", err)
	}
	a.BackoffMin, a.BackoffMax = caddy.Duration(minD), caddy.Duration(maxD)
	return nil
}

func parseGlobal(d *caddyfile.Dispenser, _ any) (any, error) {
	a := new(App)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "picket_onion", Value: caddyconfig.JSON(a, nil)}, nil
}

// UnmarshalCaddyfile sets up the listener wrapper. Syntax:
//
//	picket_onion {
//	    circuit_id     haproxy|none
//	    header_timeout <duration>
//	}
func (lw *ListenerWrapper) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // wrapper name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "circuit_id":
			if err := caddyargs.One(d, &lw.CircuitID); err != nil {
				return err
			}
		case "header_timeout":
			var v string
			if err := caddyargs.One(d, &v); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("header_timeout: %v", err)
			}
			lw.HeaderTimeout = caddy.Duration(dur)
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the source handler. Syntax:
//
//	picket_onion_source {
//	    read_write
//	    clearnet_url <https URL>
//	}
func (s *Source) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "read_write":
			s.ReadWrite = true
			if err := noArgs(d); err != nil {
				return err
			}
		case "clearnet_url":
			if err := caddyargs.One(d, &s.ClearnetURL); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the read-only handler. Syntax:
//
//	picket_read_only [<source class...>] {
//	    clearnet_url <https URL>
//	}
func (ro *ReadOnly) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	ro.Sources = append(ro.Sources, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "clearnet_url":
			if err := caddyargs.One(d, &ro.ClearnetURL); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the Onion-Location handler. Syntax:
//
//	picket_onion_location [<address.onion>]
func (l *Location) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		l.Address = d.Val()
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.ArgErr()
	}
	return nil
}

func parseSource(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Source)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func parseReadOnly(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(ReadOnly)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func parseLocation(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Location)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func intArgs(d *caddyfile.Dispenser, dst ...*int) error {
	args := d.RemainingArgs()
	if len(args) != len(dst) {
		return d.ArgErr()
	}
	for i, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			return d.Errf("%s: %q is not a number", d.Val(), a)
		}
		*dst[i] = n
	}
	return nil
}

func onOff(d *caddyfile.Dispenser, set func(bool)) error {
	var v string
	if err := caddyargs.One(d, &v); err != nil {
		return err
	}
	switch v {
	case "on":
		set(true)
	case "off":
		set(false)
	default:
		return d.Errf("%q is neither on nor off", v)
	}
	return nil
}

// onOffTuned parses "on|off [<a> <b>]" for a defence that is on by default.
func onOffTuned(d *caddyfile.Dispenser, disabled *bool, a, b *int) error {
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "off":
		*disabled = true
		return nil
	case len(args) == 1 && args[0] == "on":
		*disabled = false
		return nil
	case len(args) == 3 && args[0] == "on":
		*disabled = false
		for i, dst := range []*int{a, b} {
			n, err := strconv.Atoi(args[i+1])
			if err != nil {
				return d.Errf("%q is not a number", args[i+1])
			}
			*dst = n
		}
		return nil
	}
	return d.ArgErr()
}

func joinArgs(args []string) string {
	s := args[0]
	for _, a := range args[1:] {
		s += " " + a
	}
	return s
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*ListenerWrapper)(nil)
	_ caddyfile.Unmarshaler = (*Source)(nil)
	_ caddyfile.Unmarshaler = (*ReadOnly)(nil)
	_ caddyfile.Unmarshaler = (*Location)(nil)
)
