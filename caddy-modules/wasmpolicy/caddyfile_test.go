package wasmpolicy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCaddyfileAdapt adapts testdata/caddyfile.txt and compares the JSON
// with testdata/caddyfile.golden.json (go test -update rewrites it).
func TestCaddyfileAdapt(t *testing.T) {
	in := readFile(t, filepath.Join("testdata", "caddyfile.txt"))
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt(in, nil)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("got warnings %v, want none", warnings)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "caddyfile.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, golden); !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("got\n%s\nwant\n%s", pretty.Bytes(), want)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{name: "two paths", input: "picket_wasm a.wasm b.wasm", want: "wrong argument count"},
		{name: "unknown subdirective", input: "picket_wasm a.wasm {\n\tbogus 1\n}",
			want: `unknown subdirective "bogus"`},
		{name: "bad duration", input: "picket_wasm a.wasm {\n\ttimeout soon\n}",
			want: "timeout: want a positive duration"},
		{name: "zero pool", input: "picket_wasm a.wasm {\n\tpool_size 0\n}",
			want: "pool_size: want a positive integer"},
		{name: "flag with argument", input: "picket_wasm a.wasm {\n\tfail_open yes\n}",
			want: "wrong argument count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			mustContain(t, err.Error(), tc.want)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
		want string
	}{
		{name: "no path", h: Handler{}, want: "path"},
		{name: "short pin", h: Handler{Path: "a.wasm", SHA256: "abcd"}, want: "sha256"},
		{name: "huge memory", h: Handler{Path: "a.wasm", MemoryLimitPages: 70000},
			want: "memory_limit_pages"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
			if err == nil {
				t.Fatalf("got no error, want one about %s", tc.want)
			}
			mustContain(t, err.Error(), tc.want)
		})
	}
}
