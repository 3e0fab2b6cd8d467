package hygiene

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/picket-edge/picket/internal/caddytest"
)

func provisioned(t *testing.T, h *Handler) *Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServeHTTPStrips(t *testing.T) {
	h := provisioned(t, &Handler{Remove: []string{"x-debug-user"}, RemovePrefixes: []string{"X-Internal-"}})
	tests := []struct {
		name   string
		header string
		value  string
		keep   bool
	}{
		{name: "x-forwarded-for", header: "X-Forwarded-For", value: "198.51.100.1"},
		{name: "lower-case forwarded", header: "forwarded", value: "for=198.51.100.2"},
		{name: "x-real-ip", header: "X-Real-IP", value: "198.51.100.3"},
		{name: "cf-connecting-ip", header: "CF-Connecting-IP", value: "203.0.113.4"},
		{name: "any cf- header", header: "Cf-Ray", value: "abc"},
		{name: "true-client-ip", header: "True-Client-IP", value: "203.0.113.5"},
		{name: "gateway header", header: "X-Picket-Client", value: "source=cloudflare"},
		{name: "any picket header", header: "x-picket-source", value: "onion"},
		{name: "client via", header: "Via", value: "1.1 evil"},
		{name: "configured name", header: "X-Debug-User", value: "42"},
		{name: "configured prefix", header: "x-internal-role", value: "admin"},
		{name: "unrelated kept", header: "Accept", value: "application/json", keep: true},
		{name: "cf inside a name kept", header: "X-Cf-Note", value: "x", keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header[tt.header] = []string{tt.value}
			r.Header.Add(http.CanonicalHeaderKey(tt.header), tt.value+"-2")
			var seen http.Header
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r.Header.Clone()
				return nil
			})
			if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			got := len(seen[tt.header]) + len(seen[http.CanonicalHeaderKey(tt.header)])
			if tt.keep && got == 0 {
				t.Errorf("got %s removed, want it kept", tt.header)
			}
			if !tt.keep && got != 0 {
				t.Errorf("got %d values of %s, want none", got, tt.header)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
	}{
		{name: "space in name", h: Handler{Remove: []string{"X Bad"}}},
		{name: "empty prefix", h: Handler{RemovePrefixes: []string{""}}},
		{name: "colon in prefix", h: Handler{RemovePrefixes: []string{"X-A:"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.h.Validate(); err == nil {
				t.Fatal("got nil error, want one")
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Handler
		wantErr string
	}{
		{name: "bare", input: "picket_header_hygiene"},
		{
			name:  "block",
			input: "picket_header_hygiene {\n remove X-A X-B\n remove_prefix X-Internal-\n}",
			want:  Handler{Remove: []string{"X-A", "X-B"}, RemovePrefixes: []string{"X-Internal-"}},
		},
		{name: "unknown", input: "picket_header_hygiene {\n keep X-A\n}", wantErr: `unknown subdirective "keep", at Testfile:2`},
		{name: "argument", input: "picket_header_hygiene all", wantErr: "Testfile:1"},
		{name: "remove without names", input: "picket_header_hygiene {\n remove\n}", wantErr: "Testfile:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(h.Remove, ",") != strings.Join(tt.want.Remove, ",") ||
				strings.Join(h.RemovePrefixes, ",") != strings.Join(tt.want.RemovePrefixes, ",") {
				t.Fatalf("got %+v, want %+v", h, tt.want)
			}
		})
	}
}

func TestCaddyfileAdapt(t *testing.T) {
	caddytest.Golden(t, "testdata")
}
