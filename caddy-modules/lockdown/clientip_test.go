package lockdown

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/edge"
)

// staticCloudflare returns an app holding set, without Caddy.
func staticCloudflare(t *testing.T, cidrs ...string) *Cloudflare {
	t.Helper()
	set, err := parsePrefixes(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cloudflare{src: &rangeSource{}}
	c.src.cur.Store(newRangeState(set, time.Time{}))
	return c
}

func TestClassifyMappedPeers(t *testing.T) {
	h := &ClientIP{
		Admission: AdmissionClose,
		cf:        staticCloudflare(t, "127.0.0.2/32", "::1/128", "2001:db8::/32"),
	}
	tests := []struct {
		name       string
		remoteAddr string
		source     edge.Source
		ip         string
		reason     string
	}{
		{"ipv4 edge", "127.0.0.2:5555", edge.SourceCloudflare, "198.51.100.7", ""},
		{"mapped ipv4 edge", "[::ffff:127.0.0.2]:5555", edge.SourceCloudflare, "198.51.100.7", ""},
		{"ipv6 edge", "[::1]:5555", edge.SourceCloudflare, "198.51.100.7", ""},
		{"mapped ipv4 outside the list", "[::ffff:127.0.0.9]:5555", "", "", reasonNotAllowed},
		{"ipv4 outside the list", "127.0.0.9:5555", "", "", reasonNotAllowed},
		{"not an ip peer", "@", "", "", reasonNoIP},
	}
	off := &ClientIP{Admission: AdmissionOff, cf: h.cf}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@"
	if c, _ := off.classify(r); c == nil || c.Source != edge.SourceLocal || c.IP.IsValid() {
		t.Fatalf("unix peer with admission off: got %+v, want local without IP", c)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remoteAddr
			r.Header.Set("CF-Connecting-IP", "198.51.100.7")
			c, reason := h.classify(r)
			if reason != tt.reason {
				t.Fatalf("reason: got %q, want %q", reason, tt.reason)
			}
			if tt.reason != "" {
				return
			}
			if c.Source != tt.source || c.IP != netip.MustParseAddr(tt.ip) {
				t.Fatalf("got %s %s, want %s %s", c.Source, c.IP, tt.source, tt.ip)
			}
		})
	}
}

func TestCFConnectingIP(t *testing.T) {
	peer := netip.MustParseAddr("127.0.0.2")
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"absent", nil, "127.0.0.2"},
		{"ipv4", []string{"198.51.100.7"}, "198.51.100.7"},
		{"ipv6", []string{"2001:db8::7"}, "2001:db8::7"},
		{"mapped is unmapped", []string{"::ffff:203.0.113.1"}, "203.0.113.1"},
		{"padded", []string{" 198.51.100.7 "}, "198.51.100.7"},
		{"list", []string{"198.51.100.7, 203.0.113.1"}, "127.0.0.2"},
		{"not an ip", []string{"not-an-ip"}, "127.0.0.2"},
		{"zoned", []string{"fe80::1%eth0"}, "127.0.0.2"},
		{"empty", []string{""}, "127.0.0.2"},
		{"two headers", []string{"198.51.100.7", "198.51.100.8"}, "127.0.0.2"},
		{"cidr", []string{"198.51.100.0/24"}, "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Cf-Connecting-Ip", v)
			}
			if got := cfConnectingIP(h, peer); got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAdmissionMappedPeer(t *testing.T) {
	a := &Admission{cf: staticCloudflare(t, "127.0.0.2/32", "::/16"), allow: prefixSet{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name   string
		remote string
		ok     bool
	}{
		{"mapped edge", "[::ffff:127.0.0.2]:1", true},
		{"mapped outside, inside ::/16 textually", "[::ffff:127.0.0.9]:1", false},
		{"allowlisted", "10.1.2.3:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _ := a.admits(fakeAddr(tt.remote))
			if ok != tt.ok {
				t.Fatalf("admits(%s): got %v, want %v", tt.remote, ok, tt.ok)
			}
		})
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// onionAddr stands for the onion listener's local address.
type onionAddr struct{ circuit string }

func (onionAddr) Network() string        { return "unix" }
func (onionAddr) String() string         { return "onion.sock" }
func (a onionAddr) OnionCircuit() string { return a.circuit }

// TestClassifyOnionListener: a request from the onion listener is onion
// traffic even when no onion handler ran first and admission is closed,
// and a forged CF-Connecting-IP on it is not believed.
func TestClassifyOnionListener(t *testing.T) {
	h := &ClientIP{Admission: AdmissionClose, cf: staticCloudflare(t, "127.0.0.2/32")}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@"
	r.Header.Set("CF-Connecting-IP", "198.51.100.7")
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, onionAddr{circuit: "42"}))
	c, reason := h.classify(r)
	if reason != "" || c == nil {
		t.Fatalf("got refusal %q, want onion traffic admitted", reason)
	}
	if c.Source != edge.SourceOnion || c.Circuit != "42" || c.IP.IsValid() {
		t.Fatalf("got %+v, want onion, circuit 42, no IP", c)
	}
}
