package ratelimit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/picket-edge/picket/internal/edge"
)

// fakeClock is the injected clock; tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// t0 sits inside a window, not on a boundary, like real traffic.
var t0 = time.Date(2026, 12, 4, 10, 0, 0, 250_000_000, time.UTC)

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// useClock injects c into handlers provisioned during the test.
func useClock(t *testing.T, c *fakeClock) {
	t.Helper()
	testClock = c.Now
	t.Cleanup(func() { testClock = nil })
}

func init() {
	caddy.RegisterModule(testClient{})
	httpcaddyfile.RegisterHandlerDirective("picket_test_client",
		func(httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
			return testClient{}, nil
		})
}

// testClient stands in for the lock-down module: it records the client
// named by the X-Test-Client header ("<ip>" or "onion" or
// "onion:<circuit>") as the trusted client.
type testClient struct{}

func (testClient) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_test_client",
		New: func() caddy.Module { return new(testClient) },
	}
}

func (testClient) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	v := r.Header.Get("X-Test-Client")
	r.Header.Del("X-Test-Client")
	switch {
	case v == "":
	case v == "onion" || strings.HasPrefix(v, "onion:"):
		_, circ, _ := strings.Cut(v, ":")
		edge.Set(r, &edge.Client{Source: edge.SourceOnion, Circuit: circ})
	default:
		edge.Set(r, &edge.Client{IP: netip.MustParseAddr(v), Source: edge.SourceCloudflare})
	}
	return next.ServeHTTP(w, r)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// globalOptions keeps in-process Caddy off shared ports and files.
func globalOptions(t *testing.T, adminPort int) string {
	admin := "admin off"
	if adminPort != 0 {
		admin = fmt.Sprintf("admin 127.0.0.1:%d", adminPort)
	}
	return fmt.Sprintf(`{
	%s
	persist_config off
	auto_https off
	storage file_system %s
	log {
		output file %s
		level DEBUG
	}
}
`, admin, t.TempDir(), filepath.Join(t.TempDir(), "caddy.log"))
}

// startCaddy adapts and loads a Caddyfile in-process until the test ends.
func startCaddy(t *testing.T, cf string) {
	t.Helper()
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	cfg, _, err := adapter.Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, cf)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

// logPath returns the log file named in a globalOptions block.
func logPath(cf string) string {
	i := strings.Index(cf, "output file ")
	rest := cf[i+len("output file "):]
	return strings.TrimSpace(rest[:strings.IndexByte(rest, '\n')])
}

type reply struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
	Timeout: 10 * time.Second,
}

// send makes one request; clientIP goes to the stand-in lock-down handler.
func send(t *testing.T, method, url, clientIP string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clientIP != "" {
		req.Header.Set("X-Test-Client", clientIP)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// rawSend sends a request line byte for byte, for path spellings that
// net/http would clean or refuse to send.
func rawSend(t *testing.T, addr, method, target, clientIP string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Test-Client: %s\r\n"+
		"Content-Length: 0\r\nConnection: close\r\n\r\n", method, target, addr, clientIP)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
