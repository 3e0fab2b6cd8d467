package wasmpolicy

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/http-wasm/http-wasm-host-go/tck"

	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/standard"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	_ "github.com/caddyserver/caddy/v2/modules/logging"
)

// caddyConfig is a one-server config on addr that runs policy, then
// either proxies to upstream or (upstream == "") answers 200 "next".
// It speaks HTTP/1.1 and h2c (unencrypted HTTP/2), admin is off and
// storage is the test's temp dir.
func caddyConfig(t testing.TB, addr string, policy map[string]any, upstream string) []byte {
	t.Helper()
	return caddyConfigLog(t, addr, policy, upstream, "")
}

// caddyConfigLog is caddyConfig with warnings and errors logged to logFile
// ("" for errors only, to stderr).
func caddyConfigLog(t testing.TB, addr string, policy map[string]any, upstream, logFile string) []byte {
	t.Helper()
	logs := map[string]any{"level": "ERROR"}
	if logFile != "" {
		logs = map[string]any{"level": "WARN",
			"writer": map[string]any{"output": "file", "filename": logFile}}
	}
	policy["handler"] = "picket_wasm"
	last := map[string]any{"handler": "static_response", "status_code": 200, "body": "next"}
	if upstream != "" {
		last = map[string]any{"handler": "reverse_proxy",
			"upstreams": []map[string]any{{"dial": upstream}}}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": t.TempDir()},
		"logging": map[string]any{"logs": map[string]any{"default": logs}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"test": map[string]any{
			"listen":          []string{addr},
			"protocols":       []string{"h1", "h2c"},
			"automatic_https": map[string]any{"disable": true},
			"routes":          []map[string]any{{"handle": []map[string]any{policy, last}}},
		}}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadCaddy (re)loads cfg into the process's Caddy; stopped at cleanup.
func loadCaddy(t testing.TB, cfg []byte) {
	t.Helper()
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading caddy config: %v", err)
	}
}

func stopCaddy(t testing.TB) {
	t.Cleanup(func() { _ = caddy.Stop() })
}

func h1Client() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestTCKCaddy runs the http-wasm conformance kit against picket_wasm in
// an in-process Caddy, proxying to the kit's backend, over HTTP/1.1 and
// HTTP/2 (h2c on loopback).
func TestTCKCaddy(t *testing.T) {
	backend := tck.StartBackend("")
	t.Cleanup(backend.Close)
	addr := freePort(t)
	stopCaddy(t)
	policy := map[string]any{"path": writeGuest(t, tck.GuestWASM), "timeout": "1s"}
	loadCaddy(t, caddyConfig(t, addr, policy, backend.Listener.Addr().String()))

	for _, tc := range []struct {
		name   string
		client *http.Client
		major  int
	}{{"HTTP/1.1", h1Client(), 1}, {"HTTP/2", h2cClient(), 2}} {
		resp, err := tc.client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.ProtoMajor != tc.major {
			t.Fatalf("got %s, want HTTP/%d", resp.Proto, tc.major)
		}
		t.Run(tc.name, func(t *testing.T) {
			tck.Run(t, tc.client, "http://"+addr)
		})
	}
}

// TestHostileGuestsCaddy is the representative subset of the hostile
// tests through a real Caddy server: the attack is refused (503) and the
// following requests are served.
func TestHostileGuestsCaddy(t *testing.T) {
	const after = 1000
	stopCaddy(t)
	for _, guest := range []string{"loop", "trap", "headers"} {
		t.Run(guest, func(t *testing.T) {
			addr := freePort(t)
			policy := map[string]any{"path": hostileDir + "/" + guest + ".wasm", "pool_size": 2,
				"timeout": "250ms"}
			loadCaddy(t, caddyConfig(t, addr, policy, ""))
			client := h1Client()

			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Header.Set("X-Hostile", "1")
			status, body := do(t, client, req)
			if status != http.StatusServiceUnavailable {
				t.Fatalf("got %d %q for the attack, want 503", status, body)
			}
			for i := range after {
				req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				if status, body := do(t, client, req); status != 200 || body != "next" {
					t.Fatalf("request %d: got %d %q, want 200 \"next\"", i, status, body)
				}
			}
		})
	}
}

func do(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestSlowBodyEndsAtTheDeadline sends a request whose body never finishes
// to a guest that reads the body: the read deadline ends the guest call
// and the failure policy answers, instead of the guest waiting forever.
func TestSlowBodyEndsAtTheDeadline(t *testing.T) {
	addr := freePort(t)
	stopCaddy(t)
	policy := map[string]any{"path": writeGuest(t, tck.GuestWASM), "timeout": "200ms"}
	loadCaddy(t, caddyConfig(t, addr, policy, ""))

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// safety net only: the answer is due at the 200 ms guest deadline
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\n"+
		"X-Httpwasm-Tck-Testid: read_body/request/small\r\n"+
		"Content-Length: 100\r\n\r\nabc")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("got %d, want 503", resp.StatusCode)
	}
}
