package lockdown

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

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
		{"unknown handler option", "localhost {\n picket_client_ip {\n bogus\n }\n}", `unknown subdirective "bogus"`},
		{"unknown app option", "{\n picket_cloudflare {\n bogus\n }\n}\nlocalhost", `unknown subdirective "bogus"`},
		{"bad duration", "{\n picket_cloudflare {\n refresh_interval soon\n }\n}\nlocalhost", "parsing duration"},
		{"matcher without class", "localhost {\n @m picket_source\n respond @m 200\n}", "wrong argument count"},
		{"admission with two values", "localhost {\n picket_client_ip {\n admission close off\n }\n}", "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
			_, _, err := a.Adapt([]byte(tt.input), map[string]any{"filename": "Caddyfile"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
