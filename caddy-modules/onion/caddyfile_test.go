package onion

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if len(warn) > 0 {
				t.Fatalf("got warnings %v, want none", warn)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("got\n%s\nwant\n%s", pretty.Bytes(), want)
			}
		})
	}
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "unknown option", in: "{\n\tpicket_onion {\n\t\tbogus 1\n\t}\n}\n"},
		{name: "bad network", in: "{\n\tpicket_onion {\n\t\tnetwork maybe\n\t}\n}\n"},
		{name: "bad circuit id", in: "{\n\tpicket_onion {\n\t\tcircuit_id proxy\n\t}\n}\n"},
		{name: "pow with one number", in: "{\n\tpicket_onion {\n\t\tpow on 5\n\t}\n}\n"},
		{name: "source unknown", in: ":80 {\n\tpicket_onion_source {\n\t\tbogus\n\t}\n}\n"},
		{name: "location two args", in: ":80 {\n\tpicket_onion_location a.onion b.onion\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tt.in), nil)
			if err == nil {
				t.Fatal("got no error, want one")
			}
		})
	}
}
