package onion

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// needTor returns the tor binary or fails the test naming the package.
func needTor(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts tor; skipped with -short")
	}
	p, err := exec.LookPath("tor")
	if err != nil {
		t.Fatal("tor not found on PATH: apt-get install -y tor")
	}
	return p
}

// shortDir returns a temporary directory with a path short enough for a unix
// socket.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "po")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// loadCaddy runs cfg in process (with file storage in a temp dir and logs
// to logFile) and stops it when the test ends.
func loadCaddy(t testing.TB, cfg map[string]any, logFile string) {
	t.Helper()
	if _, ok := cfg["admin"]; !ok {
		cfg["admin"] = map[string]any{"disabled": true}
	}
	cfg["storage"] = map[string]any{"module": "file_system", "root": t.TempDir()}
	if logFile != "" {
		cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
			"level":  "DEBUG",
			"writer": map[string]any{"output": "file", "filename": logFile},
		}}}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatalf("loading caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
}

// onionServer is the JSON of a plain-HTTP server on the onion socket with
// the listener wrapper and the given routes.
func onionServer(sock string, routes []any) map[string]any {
	return map[string]any{
		"listen":            []string{"unix/" + sock},
		"listener_wrappers": []any{map[string]any{"wrapper": "picket_onion"}},
		"protocols":         []string{"h1", "h2c"},
		"automatic_https":   map[string]any{"disable": true},
		"routes":            routes,
	}
}

// echoRoute answers with what the gateway decided about the sender and the
// spoofable headers that reached the end of the chain.
func echoRoute() map[string]any {
	return map[string]any{"handle": []any{
		map[string]any{"handler": "picket_onion_source"},
		map[string]any{
			"handler": "static_response",
			"body": "source={picket.source} circuit={picket.circuit} ip={picket.client_ip}" +
				" xff={http.request.header.X-Forwarded-For}" +
				" cf={http.request.header.CF-Connecting-IP}" +
				" real={http.request.header.X-Real-IP}" +
				" fwd={http.request.header.Forwarded}",
		},
	}}
}

// circuitHeader is the PROXY line tor sends for circuit id.
func circuitHeader(id uint32) string {
	return fmt.Sprintf("PROXY TCP6 fc00:dead:beef:4dad::%x:%x ::1 65535 80\r\n", id>>16, id&0xffff)
}

// dialOnion connects to the socket as tor would, sending the circuit header.
func dialOnion(ctx context.Context, sock string, id uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, circuitHeader(id)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// onionClient returns an HTTP/1.1 or h2c client that reaches sock as circuit id.
func onionClient(sock string, id uint32, h2 bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialOnion(ctx, sock, id)
		},
		DisableKeepAlives: !h2,
	}
	tr.Protocols = new(http.Protocols)
	if h2 {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// rawRequest sends one HTTP/1.1 request verbatim over a new onion stream
// and returns the response.
func rawRequest(t *testing.T, sock string, id uint32, req string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialOnion(ctx, sock, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(req), err)
	}
	return resp
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sockPath(t *testing.T) string {
	return filepath.Join(shortDir(t), "onion.sock")
}
