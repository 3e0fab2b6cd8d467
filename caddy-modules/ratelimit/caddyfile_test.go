package ratelimit

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	_ "github.com/picket-edge/picket/caddy-modules/hygiene"
	"github.com/picket-edge/picket/internal/caddytest"
)

func TestCaddyfileGolden(t *testing.T) {
	caddytest.Golden(t, "testdata")
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"argument", "picket_rate_limit x", "wrong argument count"},
		{"unknown option", "picket_rate_limit {\n bogus\n}", `unknown subdirective "bogus"`},
		{"zone without name", "picket_rate_limit {\n zone {\n }\n}", "wrong argument count"},
		{"unknown zone option", "picket_rate_limit {\n zone a {\n limit 5\n }\n}", `unknown zone option "limit"`},
		{"bad duration", "picket_rate_limit {\n zone a {\n period soon\n }\n}", "not a duration"},
		{"bad number", "picket_rate_limit {\n zone a {\n requests many\n }\n}", "not a number"},
		{"bad status", "picket_rate_limit {\n zone a {\n count_status 4xx\n }\n}", "not a status code"},
		{"redis without address", "picket_rate_limit {\n redis {\n db 1\n }\n}", "needs an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateZone(t *testing.T) {
	ok := func() *ZoneConfig {
		return &ZoneConfig{Name: "z", Period: caddyDuration("1m"), Requests: 5,
			Block: caddyDuration("1h"), Store: StoreMemory, OnStoreError: FailClosed}
	}
	tests := []struct {
		name      string
		edit      func(*ZoneConfig)
		secret    string
		haveRedis bool
		want      string
	}{
		{"valid", func(*ZoneConfig) {}, "", false, ""},
		{"bad name", func(z *ZoneConfig) { z.Name = "a b" }, "", false, "name"},
		{"no period", func(z *ZoneConfig) { z.Period = 0 }, "", false, "period"},
		{"no requests", func(z *ZoneConfig) { z.Requests = 0 }, "", false, "requests"},
		{"no block", func(z *ZoneConfig) { z.Block = 0 }, "", false, "block"},
		{"block over a day", func(z *ZoneConfig) { z.Block = caddyDuration("25h") }, "", false, "at most 24h"},
		{"unknown store", func(z *ZoneConfig) { z.Store = "disk" }, "", false, "unknown store"},
		{"redis without connection", func(z *ZoneConfig) { z.Store = StoreRedis }, "s", false, "redis connection"},
		{"redis without secret", func(z *ZoneConfig) { z.Store = StoreRedis }, "", true, "secret"},
		{"redis", func(z *ZoneConfig) { z.Store = StoreRedis }, "s", true, ""},
		{"bad failure mode", func(z *ZoneConfig) { z.OnStoreError = "maybe" }, "", false, "on_store_error"},
		{"bad source", func(z *ZoneConfig) { z.Source = "tor" }, "", false, "source"},
		{"bad status", func(z *ZoneConfig) { z.CountStatus = []int{99} }, "", false, "count_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := ok()
			tt.edit(z)
			err := validateZone(z, tt.secret, tt.haveRedis)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
