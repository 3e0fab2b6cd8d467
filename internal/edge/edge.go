// Package edge carries what the gateway has learnt about a request's sender
// from the module that decides it (the lock-down and onion modules) to the
// modules that use it (rate limits, WASM policies, header hygiene).
//
// The decision is stored once per request in Caddy's request variables under
// VarKey, and mirrored into the placeholders {picket.client_ip} and
// {picket.source} so that Caddyfile authors can use it too.
package edge

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Source is the class of path a request took to reach the gateway.
type Source string

// The source classes. A request that no trust decision has been made for yet
// has the zero Source.
const (
	SourceCloudflare Source = "cloudflare"
	SourceOnion      Source = "onion"
	SourceLocal      Source = "local"
)

// VarKey is the caddyhttp variable that holds a *Client.
const VarKey = "picket.client"

// Placeholder names set alongside the variable.
const (
	PlaceholderClientIP = "picket.client_ip"
	PlaceholderSource   = "picket.source"
	PlaceholderCircuit  = "picket.circuit"
)

// Client is the gateway's view of who sent a request.
type Client struct {
	// IP is the trusted client address: CF-Connecting-IP from a Cloudflare
	// peer, the peer itself otherwise. Invalid for onion traffic, where
	// no address exists.
	IP netip.Addr

	// Source is the class of path the request arrived by.
	Source Source

	// VerifiedPull reports whether the TLS connection carried a client
	// certificate that chained to a trusted origin-pull CA.
	VerifiedPull bool

	// Circuit identifies the Tor circuit for onion traffic when the onion
	// service exports circuit IDs; empty otherwise.
	Circuit string
}

// Set records c for the request r and fills the placeholders. It must be
// called on a request that passed through Caddy's server (it needs the
// variable table and replacer in the context).
func Set(r *http.Request, c *Client) {
	caddyhttp.SetVar(r.Context(), VarKey, c)
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	if c.IP.IsValid() {
		repl.Set(PlaceholderClientIP, c.IP.String())
	} else {
		repl.Set(PlaceholderClientIP, "")
	}
	repl.Set(PlaceholderSource, string(c.Source))
	repl.Set(PlaceholderCircuit, c.Circuit)
}

// From returns the decision recorded for r, if any.
func From(r *http.Request) (*Client, bool) {
	c, ok := caddyhttp.GetVar(r.Context(), VarKey).(*Client)
	return c, ok && c != nil
}

// OnionAddr is implemented by the local address of a connection that
// arrived on the onion listener (the onion module's listener wrapper sets
// it), so that any handler can recognise onion traffic by its listener,
// whatever order the handlers run in.
type OnionAddr interface {
	net.Addr
	// OnionCircuit is tor's circuit ID for the stream, or "" when the
	// onion service does not export circuit IDs.
	OnionCircuit() string
}

// OnionListener reports whether r arrived on the onion listener, and the
// circuit if known.
func OnionListener(r *http.Request) (circuit string, ok bool) {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(OnionAddr)
	if !ok {
		return "", false
	}
	return a.OnionCircuit(), true
}

// Key returns a stable identity for rate limiting and similar uses: the
// circuit for onion traffic, the client IP otherwise (IPv4 as-is, IPv6
// grouped per /64, IPv4-mapped IPv6 unmapped). It returns "" when there is
// no identity beyond the shared onion bucket.
func (c *Client) Key() string {
	switch {
	case c.Source == SourceOnion && c.Circuit != "":
		return "onion:" + c.Circuit
	case c.Source == SourceOnion:
		return "onion"
	case !c.IP.IsValid():
		return ""
	}
	return AddrKey(c.IP)
}

// AddrKey normalises an address into a rate-limit identity: IPv4 (including
// the ::ffff: mapped form) per address, IPv6 per /64.
func AddrKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
