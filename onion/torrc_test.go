package onion

import (
	"strings"
	"testing"
)

func TestTorrc(t *testing.T) {
	base := Config{DataDir: "/var/lib/picket/tor", Socket: "/run/picket/onion.sock"}
	tests := []struct {
		name    string
		cfg     Config
		want    []string
		notWant []string
	}{
		{
			name: "safe defaults",
			cfg:  base,
			want: []string{
				"SocksPort 0\n",
				"HiddenServiceDir /var/lib/picket/tor/hs\n",
				"HiddenServicePort 80 unix:/run/picket/onion.sock\n",
				"HiddenServiceExportCircuitID haproxy\n",
				"HiddenServicePoWDefensesEnabled 1\n",
				"HiddenServiceEnableIntroDoSDefense 1\n",
				"HiddenServiceMaxStreams 32\n",
				"HiddenServiceMaxStreamsCloseCircuit 1\n",
				"SafeLogging 1\n",
			},
			notWant: []string{"DirAuthority", "TestingTorNetwork", "DisableNetwork 0"},
		},
		{
			name: "defences off",
			cfg: func() Config {
				c := base
				c.DisableCircuitID, c.DisablePoW, c.DisableIntroDoS = true, true, true
				c.MaxStreams = 5
				return c
			}(),
			want:    []string{"HiddenServiceMaxStreams 5\n"},
			notWant: []string{"ExportCircuitID", "PoWDefenses", "IntroDoS"},
		},
		{
			name: "private network",
			cfg: func() Config {
				c := base
				c.TestingDirAuthorities = []string{"auth0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB"}
				return c
			}(),
			want: []string{"TestingTorNetwork 1\n", "DirAuthority auth0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got := tt.cfg.Torrc()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("torrc lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("torrc has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	base := Config{DataDir: "/d", Socket: "/s.sock"}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{name: "relative data dir", mod: func(c *Config) { c.DataDir = "tor" }},
		{name: "no socket", mod: func(c *Config) { c.Socket = "" }},
		{name: "long socket", mod: func(c *Config) { c.Socket = "/" + strings.Repeat("a", 120) }},
		{name: "newline in path", mod: func(c *Config) { c.DataDir = "/d\nSocksPort 9050" }},
		{name: "public authority", mod: func(c *Config) {
			c.TestingDirAuthorities = []string{"moria1 orport=9101 v3ident=X 128.31.0.39:9131 Y"}
		}},
		{name: "authority ipv6 not loopback", mod: func(c *Config) {
			c.TestingDirAuthorities = []string{"a orport=1 ipv6=[2001:db8::1]:1 127.0.0.1:2 Y"}
		}},
		{name: "authority without address", mod: func(c *Config) { c.TestingDirAuthorities = []string{"a b c"} }},
		{name: "negative limit", mod: func(c *Config) { c.MaxStreams = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("got no error, want one")
			}
		})
	}
}
