package onion

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// checkNoOnionTLS refuses a configuration in which Caddy would manage a
// certificate for a .onion name, or serve TLS on the onion socket: no CA
// issues publicly trusted certificates for onion names through ACME, and the
// request alone would tell a CA the address. The onion site is plain HTTP
// (see RATIONALE.md, "Why plain HTTP on the onion?").
func checkNoOnionTLS(ctx caddy.Context, socket string) error {
	v, err := ctx.AppIfConfigured("http")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil
	}
	if err != nil {
		return err
	}
	app, ok := v.(*caddyhttp.App)
	if !ok {
		return nil
	}
	for name, srv := range app.Servers {
		if plainHTTPOnly(srv, app.HTTPPort) {
			continue
		}
		for _, host := range hosts(srv) {
			if strings.HasSuffix(strings.ToLower(host), ".onion") && certsManaged(srv, host) {
				return fmt.Errorf("server %s: Caddy would request a certificate for %s; use http://%s", name, host, host)
			}
		}
		if onSocket(srv, socket) && len(srv.TLSConnPolicies) > 0 {
			return fmt.Errorf("server %s: the onion socket must serve plain HTTP; use an http:// site address", name)
		}
	}
	return nil
}

// plainHTTPOnly reports whether every listener of srv is a network port
// equal to the HTTP port, where Caddy never manages certificates.
func plainHTTPOnly(srv *caddyhttp.Server, httpPort int) bool {
	if httpPort == 0 {
		httpPort = caddyhttp.DefaultHTTPPort
	}
	for _, l := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil || na.IsUnixNetwork() || na.IsFdNetwork() ||
			na.StartPort != uint(httpPort) || na.EndPort != uint(httpPort) {
			return false
		}
	}
	return len(srv.Listen) > 0
}

func onSocket(srv *caddyhttp.Server, socket string) bool {
	for _, l := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil || !na.IsUnixNetwork() {
			continue
		}
		path, err := filepath.Abs(strings.SplitN(na.Host, "|", 2)[0])
		if err == nil && path == socket {
			return true
		}
	}
	return false
}

// hosts lists the host matchers of srv's top-level routes.
func hosts(srv *caddyhttp.Server) []string {
	var out []string
	for _, r := range srv.Routes {
		for _, set := range r.MatcherSets {
			for _, m := range set {
				if h, ok := m.(*caddyhttp.MatchHost); ok {
					out = append(out, *h...)
				}
			}
		}
	}
	return out
}

func certsManaged(srv *caddyhttp.Server, host string) bool {
	ah := srv.AutoHTTPS
	if ah == nil {
		return true
	}
	return !ah.Disabled && !ah.DisableCerts &&
		!slices.Contains(ah.Skip, host) && !slices.Contains(ah.SkipCerts, host)
}
