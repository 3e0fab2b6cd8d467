package onion

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// onionConfig is a Caddy config with the picket_onion app (network off),
// an onion server echoing body, and the admin API on adminPort.
func onionConfig(t *testing.T, dir string, adminPort int, maxStreams int, body string) map[string]any {
	sock := filepath.Join(dir, "onion.sock")
	route := echoRoute()
	route["handle"].([]any)[1].(map[string]any)["body"] = body
	return map[string]any{
		"admin": map[string]any{"listen": fmt.Sprintf("127.0.0.1:%d", adminPort)},
		"apps": map[string]any{
			"picket_onion": map[string]any{
				"tor_path":    needTor(t),
				"data_dir":    filepath.Join(dir, "tor"),
				"socket":      sock,
				"max_streams": maxStreams,
			},
			"http": map[string]any{"servers": map[string]any{"onion": onionServer(sock, []any{route})}},
		},
	}
}

func reload(t *testing.T, cfg map[string]any, logFile string) {
	t.Helper()
	cfg["storage"] = map[string]any{"module": "file_system", "root": filepath.Join(filepath.Dir(logFile), "storage")}
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
		"level":  "DEBUG",
		"writer": map[string]any{"output": "file", "filename": logFile},
	}}}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatalf("loading caddy: %v", err)
	}
}

func mustStatus(t *testing.T) (st struct {
	Address string
	PID     int
	Running bool
},
) {
	t.Helper()
	s, ok := Status()
	if !ok || !s.Running {
		t.Fatalf("got status %+v (ok %v), want a running tor", s, ok)
	}
	st.Address, st.PID, st.Running = s.Address, s.PID, s.Running
	return st
}

func TestReloadKeepsTor(t *testing.T) {
	dir := shortDir(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	adminPort := freePort(t)
	t.Cleanup(func() { _ = caddy.Stop() })

	reload(t, onionConfig(t, dir, adminPort, 0, "one"), logFile)
	first := mustStatus(t)

	t.Run("admin api", func(t *testing.T) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/picket/onion", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		var v statusView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || v.Address != first.Address || !v.Running || !v.Healthy {
			t.Fatalf("got %d %+v, want 200 with address %s, running and healthy", resp.StatusCode, v, first.Address)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		for _, want := range []string{"picket_onion_tor_up 1", "picket_onion_bootstrap_percent", "picket_onion_tor_restarts_total 0"} {
			if !strings.Contains(body, want) {
				t.Fatalf("metrics lack %q", want)
			}
		}
	})

	t.Run("serves through the socket", func(t *testing.T) {
		resp := rawRequest(t, filepath.Join(dir, "onion.sock"), 9, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got := readBody(t, resp); got != "one" {
			t.Fatalf("got %q, want %q", got, "one")
		}
	})

	reload(t, onionConfig(t, dir, adminPort, 0, "two"), logFile)
	if got := mustStatus(t); got.PID != first.PID {
		t.Fatalf("got tor pid %d after a reload without onion changes, want %d", got.PID, first.PID)
	}
	resp := rawRequest(t, filepath.Join(dir, "onion.sock"), 9, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readBody(t, resp); got != "two" {
		t.Fatalf("got %q after reload, want %q", got, "two")
	}
	if n := strings.Count(readFile(t, logFile), first.Address); n != 1 {
		t.Fatalf("address logged %d times, want once", n)
	}

	reload(t, onionConfig(t, dir, adminPort, 10, "three"), logFile)
	changed := mustStatus(t)
	if changed.PID == first.PID {
		t.Fatalf("got the same tor pid %d after changing max_streams, want a new process", first.PID)
	}
	if changed.Address != first.Address {
		t.Fatalf("got address %s after a config change, want %s", changed.Address, first.Address)
	}
	torrc := readFile(t, filepath.Join(dir, "tor", "torrc"))
	if !strings.Contains(torrc, "HiddenServiceMaxStreams 10\n") {
		t.Fatalf("torrc lacks the new limit:\n%s", torrc)
	}

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if st, ok := Status(); ok {
		t.Fatalf("got status %+v after stop, want none", st)
	}
	checkKeyNotLogged(t, filepath.Join(dir, "tor", "hs"), logFile)
}

// checkKeyNotLogged fails if the secret key appears in the log in hex or
// base64.
func checkKeyNotLogged(t *testing.T, hsDir, logFile string) {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(hsDir, "hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	log := readFile(t, logFile)
	secret := key[32:]
	for _, enc := range []string{
		hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret),
		base64.RawURLEncoding.EncodeToString(secret), string(secret[:16]),
	} {
		if strings.Contains(log, enc) {
			t.Fatal("log contains the onion service key")
		}
	}
}

func TestCorruptKeyStopsCaddy(t *testing.T) {
	dir := shortDir(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	t.Cleanup(func() { _ = caddy.Stop() })
	reload(t, onionConfig(t, dir, freePort(t), 0, "x"), logFile)
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	keyFile := filepath.Join(dir, "tor", "hs", "hs_ed25519_secret_key")
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := onionConfig(t, dir, freePort(t), 0, "x")
	cfg["storage"] = map[string]any{"module": "file_system", "root": t.TempDir()}
	raw, _ := json.Marshal(cfg)
	err := caddy.Load(raw, true)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("got error %v, want one saying the key is corrupt", err)
	}
}

func TestAddressCommand(t *testing.T) {
	dir := shortDir(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	t.Cleanup(func() { _ = caddy.Stop() })
	reload(t, onionConfig(t, dir, freePort(t), 0, "x"), logFile)
	want := mustStatus(t).Address
	got, err := onionAddress(filepath.Join(dir, "tor"))
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if _, err := onionAddress(filepath.Join(dir, "nothing")); err == nil {
		t.Fatal("got no error for a directory without a key, want one")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNoCertificatesForOnion(t *testing.T) {
	tests := []struct {
		name    string
		server  func(sock string) map[string]any
		wantErr string
	}{
		{name: "onion host without scheme", wantErr: "certificate", server: func(sock string) map[string]any {
			s := onionServer(sock, []any{map[string]any{
				"match":  []any{map[string]any{"host": []string{testOnion}}},
				"handle": []any{map[string]any{"handler": "static_response", "body": "x"}},
			}})
			delete(s, "automatic_https")
			return s
		}},
		{name: "tls on the onion socket", wantErr: "plain HTTP", server: func(sock string) map[string]any {
			s := onionServer(sock, []any{echoRoute()})
			s["tls_connection_policies"] = []any{map[string]any{}}
			return s
		}},
		{name: "http site skipped", server: func(sock string) map[string]any {
			s := onionServer(sock, []any{map[string]any{
				"match":  []any{map[string]any{"host": []string{testOnion}}},
				"handle": []any{map[string]any{"handler": "static_response", "body": "x"}},
			}})
			s["automatic_https"] = map[string]any{"skip": []string{testOnion}}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortDir(t)
			logFile := filepath.Join(t.TempDir(), "caddy.log")
			cfg := onionConfig(t, dir, freePort(t), 0, "x")
			apps := cfg["apps"].(map[string]any)
			apps["http"] = map[string]any{"servers": map[string]any{
				"onion": tt.server(filepath.Join(dir, "onion.sock")),
			}}
			// should a check ever slip, no ACME issuer may run in a test
			apps["tls"] = map[string]any{"automation": map[string]any{"policies": []any{
				map[string]any{"issuers": []any{map[string]any{"module": "internal"}}},
			}}}
			apps["pki"] = map[string]any{"certificate_authorities": map[string]any{
				"local": map[string]any{"install_trust": false},
			}}
			cfg["storage"] = map[string]any{"module": "file_system", "root": shortDir(t)}
			cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
				"writer": map[string]any{"output": "file", "filename": logFile},
			}}}
			raw, _ := json.Marshal(cfg)
			err := caddy.Load(raw, true)
			t.Cleanup(func() { _ = caddy.Stop() })
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
