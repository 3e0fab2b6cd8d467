package edge

import (
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name string
		c    Client
		want string
	}{
		{name: "ipv4", c: Client{IP: netip.MustParseAddr("192.0.2.7"), Source: SourceCloudflare}, want: "192.0.2.7"},
		{name: "mapped ipv4", c: Client{IP: netip.MustParseAddr("::ffff:192.0.2.7"), Source: SourceCloudflare}, want: "192.0.2.7"},
		{name: "ipv6 grouped per /64", c: Client{IP: netip.MustParseAddr("2001:db8:1:2:3:4:5:6")}, want: "2001:db8:1:2::/64"},
		{name: "ipv6 zone dropped", c: Client{IP: netip.MustParseAddr("fe80::1%eth0")}, want: "fe80::/64"},
		{name: "onion circuit", c: Client{Source: SourceOnion, Circuit: "17"}, want: "onion:17"},
		{name: "onion shared", c: Client{Source: SourceOnion}, want: "onion"},
		{name: "no identity", c: Client{Source: SourceLocal}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Key(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
