// Package caddytest holds test helpers shared by picket's Caddy modules.
package caddytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// Adapt turns a Caddyfile into indented JSON, failing the test on an error.
func Adapt(t testing.TB, input []byte) []byte {
	t.Helper()
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, warnings, err := adapter.Adapt(input, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		t.Logf("warning: %s:%d: %s", w.File, w.Line, w.Message)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	return pretty.Bytes()
}

// Golden adapts every dir/*.caddyfile and compares it with the .json file
// beside it. With PICKET_UPDATE_GOLDEN=1 in the environment it rewrites the
// JSON files instead.
func Golden(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.caddyfile"))
	if len(files) == 0 {
		t.Fatalf("no *.caddyfile found in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			input, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := Adapt(t, input)
			golden := strings.TrimSuffix(f, ".caddyfile") + ".json"
			if os.Getenv("PICKET_UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with PICKET_UPDATE_GOLDEN=1 to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("adapting %s: got:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
}
