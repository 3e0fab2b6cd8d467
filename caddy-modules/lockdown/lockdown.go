// Package lockdown keeps everyone but Cloudflare's edge, the local onion
// service and an explicit allowlist away from the gateway, and decides the
// client IP and source class of every admitted request.
//
// It provides these Caddy modules, all fed by one Cloudflare range list:
//
//   - picket_cloudflare (app): Cloudflare's IPv4 and IPv6 ranges, from a
//     compiled-in snapshot, the last good list in Caddy's storage, and a
//     periodic fetch through cloudflare-go;
//   - caddy.listeners.picket_admission: closes connections from any other
//     peer before the TLS handshake;
//   - http.ip_sources.picket_cloudflare: the same ranges for trusted_proxies;
//   - http.handlers.picket_client_ip: the client IP from CF-Connecting-IP
//     (only from a Cloudflare peer), the source class, the signed header for
//     the origin, and removal of every inbound address header;
//   - http.matchers.picket_source: matches on the source class;
//   - tls.ca_pool.source.picket_aop and tls.client_auth.verifier.picket_aop:
//     the trust bundle and leaf checks for authenticated origin pulls.
//
// The trust model is written down in docs/lockdown.md and RATIONALE.md.
package lockdown

import (
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Refusal reasons, used as the "reason" label of the refusal metric.
const (
	reasonNotAllowed = "peer_not_allowed"
	reasonNoIP       = "peer_not_ip"
)

// metrics are process-wide so that counts survive config reloads; each
// config's registry gets them registered again (see registerMetrics).
var (
	refusedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "picket",
		Subsystem: "lockdown",
		Name:      "refused_total",
		Help:      "Connections or requests refused by admission, by stage and reason.",
	}, []string{"stage", "reason"})

	clientIPHeaderTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "picket",
		Subsystem: "lockdown",
		Name:      "cf_connecting_ip_total",
		Help:      "CF-Connecting-IP outcomes on requests from Cloudflare peers.",
	}, []string{"result"})

	rangeRefreshTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "picket",
		Subsystem: "lockdown",
		Name:      "range_refresh_total",
		Help:      "Cloudflare range fetches by result; anything but ok kept the previous list.",
	}, []string{"result"})

	rangeCount = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "picket",
		Subsystem: "lockdown",
		Name:      "ranges",
		Help:      "Cloudflare ranges in force, by address family.",
	}, []string{"family"})

	aopExpiryDays = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "picket",
		Subsystem: "lockdown",
		Name:      "aop_ca_expiry_days",
		Help:      "Days until a trusted origin-pull CA certificate expires (negative once expired).",
	}, []string{"ca"})
)

// registerMetrics adds the package's collectors to the config's registry.
// Several modules of one config register them; the repeats are harmless.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		refusedTotal, clientIPHeaderTotal, rangeRefreshTotal, rangeCount, aopExpiryDays,
	} {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if err != nil && !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// peerAddr returns the IP of a connection's remote address, unmapped and
// without zone. It is invalid for non-IP peers (unix sockets).
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap().WithZone("")
	}
	if a == nil {
		return netip.Addr{}
	}
	return parseHostPort(a.String())
}

// parseHostPort parses "host:port" (as in http.Request.RemoteAddr) into an
// unmapped address without zone.
func parseHostPort(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(host))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// parsePrefixes parses CIDRs or single addresses into normalised prefixes:
// masked, and IPv4-mapped IPv6 prefixes turned into IPv4 ones, so that a
// peer (always unmapped) meets one form only.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(ip, ip.BitLen())
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address " + s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// prefixSet is an immutable list of prefixes to test addresses against.
type prefixSet []netip.Prefix

// contains reports whether ip (unmapped by the caller's helpers) is in the
// set. An IPv4 address never matches an IPv6 prefix, so a mapped peer is
// judged by the IPv4 ranges alone.
func (s prefixSet) contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range s {
		if p.Addr().Is4() == ip.Is4() && p.Contains(ip) {
			return true
		}
	}
	return false
}
