package lockdown

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/caddy-modules/hygiene"
	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/internal/gateway"
)

func init() {
	caddy.RegisterModule(ClientIP{})
}

// Admission modes of the picket_client_ip handler.
const (
	AdmissionClose     = "close"
	AdmissionForbidden = "forbidden"
	AdmissionOff       = "off"
)

// PlaceholderOriginHeader holds the signed X-Picket-Client value; send it
// with reverse_proxy's header_up.
const PlaceholderOriginHeader = "picket.origin_header"

// addressHeaders are the inbound headers removed from every request: they
// claim a client address on the sender's word.
var addressHeaders = map[string]struct{}{
	"Cf-Connecting-Ip": {},
	"True-Client-Ip":   {},
	"X-Forwarded-For":  {},
	"X-Real-Ip":        {},
	"Forwarded":        {},
	gateway.Header:     {},
}

// ClientIP is the http.handlers.picket_client_ip handler. It decides the
// client IP and source class of a request and records them with edge.Set:
//
//   - a peer in Cloudflare's list is source "cloudflare"; its client IP is
//     CF-Connecting-IP when that is exactly one valid IP, the peer otherwise.
//     X-Forwarded-For is never read;
//   - on a site marked "source onion", or for a request the onion module
//     already classified, the source is "onion" and there is no client IP;
//   - a peer in Allow, or any peer when admission is off, is source "local"
//     with the peer as client IP;
//   - any other peer is refused: the connection is dropped without a
//     response (admission close, the default) or answered with a fixed 403
//     (admission forbidden).
//
// Then every inbound CF-Connecting-IP, True-Client-IP, X-Forwarded-For,
// X-Real-IP, Forwarded and X-Picket-Client header is removed, and, with a
// key configured, {picket.origin_header} is set to the signed header for
// the origin.
type ClientIP struct {
	// Admission is close (default), forbidden or off.
	Admission string `json:"admission,omitempty"`

	// Extra CIDRs or addresses admitted as source "local".
	Allow []string `json:"allow,omitempty"`

	// Source "onion" marks a site reached only through the onion service.
	Source string `json:"source,omitempty"`

	// OriginKey is the key shared with the origin for X-Picket-Client, at
	// least 32 bytes. Placeholders such as {env.PICKET_GATEWAY_KEY} or
	// {file./run/secrets/gateway_key} are replaced once at provisioning.
	OriginKey string `json:"origin_key,omitempty"`

	cf     *Cloudflare
	allow  prefixSet
	key    []byte
	now    func() time.Time
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (ClientIP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_client_ip",
		New: func() caddy.Module { return new(ClientIP) },
	}
}

// Provision loads the range list, the allowlist and the origin key.
func (h *ClientIP) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.now = time.Now
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if h.Admission == "" {
		h.Admission = AdmissionClose
	}
	allow, err := parsePrefixes(h.Allow)
	if err != nil {
		return fmt.Errorf("parsing allow: %w", err)
	}
	h.allow = allow
	if h.OriginKey != "" {
		repl := caddy.NewReplacer()
		h.key = []byte(strings.TrimSpace(repl.ReplaceKnown(h.OriginKey, "")))
	}
	h.cf, err = cloudflareApp(ctx)
	return err
}

// Validate checks the configuration.
func (h *ClientIP) Validate() error {
	switch h.Admission {
	case AdmissionClose, AdmissionForbidden, AdmissionOff:
	default:
		return fmt.Errorf("admission: %q is not close, forbidden or off", h.Admission)
	}
	if h.Source != "" && h.Source != string(edge.SourceOnion) {
		return fmt.Errorf("source: %q is not onion", h.Source)
	}
	if h.OriginKey != "" && len(h.key) < gateway.MinKeyLen {
		return fmt.Errorf("origin_key: %d bytes after replacement, want at least %d",
			len(h.key), gateway.MinKeyLen)
	}
	return nil
}

// ServeHTTP classifies the request, strips the address headers and calls
// next, or refuses the request.
func (h *ClientIP) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	c, reason := h.classify(r)
	hygiene.Strip(r.Header, addressHeaders, nil)
	if c == nil {
		return h.refuse(w, r, reason)
	}

	edge.Set(r, c)
	// Caddy's own {client_ip} (client_ip matcher, access logs) must agree
	// with ours, whatever client_ip_headers says.
	clientIPVar := ""
	if c.IP.IsValid() {
		clientIPVar = c.IP.String()
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, clientIPVar)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(PlaceholderOriginHeader, h.originHeader(repl, c))
	}
	return next.ServeHTTP(w, r)
}

// originHeader signs c for the origin; "" without a key.
func (h *ClientIP) originHeader(repl *caddy.Replacer, c *edge.Client) string {
	if h.key == nil {
		return ""
	}
	rid := repl.ReplaceAll("{http.request.uuid}", "")
	return gateway.Sign(h.key, gateway.Client{
		IP:           c.IP,
		Source:       string(c.Source),
		VerifiedPull: c.VerifiedPull,
	}, rid, h.now())
}

// classify returns the client, or nil and a refusal reason.
func (h *ClientIP) classify(r *http.Request) (*edge.Client, string) {
	pull := r.TLS != nil && len(r.TLS.VerifiedChains) > 0
	// onion traffic is known by its listener, whatever the handler order
	if circuit, ok := edge.OnionListener(r); ok {
		return &edge.Client{Source: edge.SourceOnion, Circuit: circuit, VerifiedPull: pull}, ""
	}
	if prev, ok := edge.From(r); (ok && prev.Source == edge.SourceOnion) ||
		h.Source == string(edge.SourceOnion) {
		c := &edge.Client{Source: edge.SourceOnion, VerifiedPull: pull}
		if ok {
			c.Circuit = prev.Circuit
		}
		return c, ""
	}

	peer := parseHostPort(r.RemoteAddr)
	switch {
	case h.cf.Contains(peer):
		return &edge.Client{
			IP:           cfConnectingIP(r.Header, peer),
			Source:       edge.SourceCloudflare,
			VerifiedPull: pull,
		}, ""
	case h.allow.contains(peer), h.Admission == AdmissionOff:
		// with admission off a unix-socket peer is local too, without an IP.
		return &edge.Client{IP: peer, Source: edge.SourceLocal, VerifiedPull: pull}, ""
	case !peer.IsValid():
		return nil, reasonNoIP
	}
	return nil, reasonNotAllowed
}

// cfConnectingIP returns the address in CF-Connecting-IP if the header
// appears once and holds exactly one valid IP without zone, and peer
// otherwise. Anything else is treated as absent and counted.
func cfConnectingIP(hdr http.Header, peer netip.Addr) netip.Addr {
	vals := hdr.Values("Cf-Connecting-Ip")
	if len(vals) == 0 {
		clientIPHeaderTotal.WithLabelValues("missing").Inc()
		return peer
	}
	if len(vals) == 1 {
		ip, err := netip.ParseAddr(strings.TrimSpace(vals[0]))
		if err == nil && ip.Zone() == "" {
			clientIPHeaderTotal.WithLabelValues("ok").Inc()
			return ip.Unmap()
		}
	}
	clientIPHeaderTotal.WithLabelValues("invalid").Inc()
	return peer
}

// refuse drops the connection or writes the fixed 403.
func (h *ClientIP) refuse(w http.ResponseWriter, r *http.Request, reason string) error {
	refusedTotal.WithLabelValues("handler", reason).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "request refused by admission"); ce != nil {
		ce.Write(zap.String("reason", reason))
	}
	if h.Admission == AdmissionForbidden {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		rid := ""
		if repl != nil {
			rid = repl.ReplaceAll("{http.request.uuid}", "")
		}
		apierror.Write(w, http.StatusForbidden, "not_admitted",
			"this address does not serve direct connections", rid)
		return nil
	}
	// net/http closes the connection (HTTP/1) or resets the stream (HTTP/2)
	// without writing anything.
	panic(http.ErrAbortHandler)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ClientIP)(nil)
	_ caddy.Validator             = (*ClientIP)(nil)
	_ caddyhttp.MiddlewareHandler = (*ClientIP)(nil)
)
