package onion

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/proxy"

	onionsvc "github.com/picket-edge/picket/onion"
	"github.com/picket-edge/picket/onion/tornet"
)

// TestEndToEndThroughTor publishes the onion service on a private Tor
// network on loopback and reaches it through a tor client's SOCKS port.
// It takes a minute or more, so it runs only with PICKET_TOR_E2E=1.
func TestEndToEndThroughTor(t *testing.T) {
	if os.Getenv("PICKET_TOR_E2E") != "1" {
		t.Skip("private Tor network test: set PICKET_TOR_E2E=1 to run it")
	}
	needTor(t)
	network := tornet.Start(t, 3, 3)

	dir := shortDir(t)
	sock := filepath.Join(dir, "onion.sock")
	cfg := onionConfig(t, dir, freePort(t), 0, "x")
	apps := cfg["apps"].(map[string]any)
	app := apps["picket_onion"].(map[string]any)
	app["enable_network"] = true
	app["testing_dir_authorities"] = network.DirAuthorities
	apps["http"] = map[string]any{"servers": map[string]any{"onion": onionServer(sock, []any{echoRoute()})}}
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	t.Cleanup(func() { _ = caddy.Stop() })
	reload(t, cfg, logFile)

	torrc := readFile(t, filepath.Join(dir, "tor", "torrc"))
	if err := tornet.CheckLoopbackOnly(torrc); err != nil {
		t.Fatalf("service torrc: %v\n%s", err, torrc)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sup := current.Load().entry.supervisor()
	st, err := sup.Await(ctx, func(s onionsvc.Status) bool { return s.DescriptorsUploaded > 0 })
	if err != nil {
		t.Fatalf("descriptor not published: %v (status %+v)", err, st)
	}
	if err := network.WaitClient(ctx); err != nil {
		t.Fatal(err)
	}

	get := func(user, method string) (int, string) {
		t.Helper()
		return socksRequest(ctx, t, network.SocksAddr, user, st.Address, method)
	}
	code, body := get("first", "GET")
	if code != 200 || !strings.HasPrefix(body, "source=onion circuit=") {
		t.Fatalf("GET: got %d %q, want 200 with an onion echo", code, body)
	}
	first := circuitField(body)
	if code, _ := get("first", "POST"); code != 405 {
		t.Fatalf("POST: got %d, want 405", code)
	}
	_, body2 := get("second", "GET")
	if second := circuitField(body2); second == "" || second == first {
		t.Fatalf("got circuits %q and %q for two SOCKS identities, want two different ones", first, second)
	}
	if !Healthy() {
		t.Fatal("got unhealthy after publishing, want healthy")
	}
}

func circuitField(body string) string {
	for _, f := range strings.Fields(body) {
		if v, ok := strings.CutPrefix(f, "circuit="); ok {
			return v
		}
	}
	return ""
}

// socksRequest sends one request to addr:80 through the tor client, retrying
// while the client still fetches the service descriptor.
func socksRequest(ctx context.Context, t *testing.T, socks, user, addr, method string) (int, string) {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", socks, &proxy.Auth{User: user, Password: user}, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for ctx.Err() == nil {
		c, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr+":80")
		if err != nil {
			lastErr = err
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		body := ""
		if method == "POST" {
			body = "a=1"
		}
		fmt.Fprintf(c, "%s / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			method, addr, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading response: %v", err)
		}
		return resp.StatusCode, readBody(t, resp)
	}
	t.Fatalf("reaching %s through tor: %v", addr, lastErr)
	return 0, ""
}
