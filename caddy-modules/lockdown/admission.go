package lockdown

import (
	"fmt"
	"net"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Admission{})
}

// Admission is the caddy.listeners.picket_admission listener wrapper. It
// closes every accepted connection whose peer is neither in Cloudflare's
// list nor in Allow, before a single byte is read, so refused peers never
// reach the TLS handshake. It must come before the tls wrapper:
//
//	listener_wrappers {
//	    picket_admission
//	    tls
//	}
//
// A listener wrapper cannot send an HTTP response: sites that prefer a 403
// leave the listener unwrapped and set "admission forbidden" on
// picket_client_ip instead.
type Admission struct {
	// Extra CIDRs or addresses to admit (development, health checkers).
	Allow []string `json:"allow,omitempty"`

	cf     *Cloudflare
	allow  prefixSet
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Admission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.picket_admission",
		New: func() caddy.Module { return new(Admission) },
	}
}

// Provision loads the range list and parses the allowlist.
func (a *Admission) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	allow, err := parsePrefixes(a.Allow)
	if err != nil {
		return fmt.Errorf("parsing allow: %w", err)
	}
	a.allow = allow
	a.cf, err = cloudflareApp(ctx)
	return err
}

// WrapListener returns ln with admission applied on Accept.
func (a *Admission) WrapListener(ln net.Listener) net.Listener {
	return &admissionListener{Listener: ln, a: a}
}

// admits reports whether peer may connect, and the refusal reason if not.
func (a *Admission) admits(peer net.Addr) (bool, string) {
	ip := peerAddr(peer)
	switch {
	case !ip.IsValid():
		return false, reasonNoIP
	case a.cf.Contains(ip), a.allow.contains(ip):
		return true, ""
	}
	return false, reasonNotAllowed
}

type admissionListener struct {
	net.Listener
	a *Admission
}

// Accept returns the next admitted connection, closing refused ones.
func (l *admissionListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ok, reason := l.a.admits(c.RemoteAddr())
		if ok {
			return c, nil
		}
		refusedTotal.WithLabelValues("listener", reason).Inc()
		if ce := l.a.logger.Check(zap.DebugLevel, "connection refused by admission"); ce != nil {
			ce.Write(zap.String("reason", reason))
		}
		_ = c.Close()
	}
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Admission)(nil)
	_ caddy.ListenerWrapper = (*Admission)(nil)
)
