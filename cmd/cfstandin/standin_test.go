package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/picket-edge/picket/caddy-modules/hygiene"
	_ "github.com/picket-edge/picket/caddy-modules/lockdown"
	"github.com/picket-edge/picket/internal/gateway"
)

const testKey = "development-gateway-key-0123456789abcdef"

func TestEnsurePKIReusesAndRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first, err := ensurePKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ensurePKI(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Certificate[0], again.Certificate[0]) {
		t.Fatal("client certificate replaced although still valid")
	}
	renewed, err := ensurePKI(dir, now.Add(340*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.Certificate[0], renewed.Certificate[0]) {
		t.Fatal("client certificate kept within 30 days of expiry")
	}
	if fi, err := os.Stat(filepath.Join(dir, clientKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client key mode: got %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestThroughStandIn runs the development set-up: origin, gateway (the
// development Caddyfile with free ports) and the stand-in, all on loopback.
// A request through the stand-in reaches the origin with a verified client
// header; a direct request to the gateway is refused.
func TestThroughStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process Caddy with TLS on loopback; skipped under -short")
	}
	dir := t.TempDir()
	cert, err := ensurePKI(filepath.Join(dir, "cfstandin"), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// the origin reports what reached it.
	type seen struct {
		Verified bool
		Client   string
		Headers  http.Header
	}
	verified, err := gateway.Verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := gateway.From(r.Context())
		_ = json.NewEncoder(w).Encode(seen{ok, fmt.Sprintf("%s|%s|%v", c.IP, c.Source, c.VerifiedPull), r.Header})
	}), gateway.VerifyConfig{Key: []byte(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(verified)
	defer origin.Close()

	gw := freeAddr(t)
	_, gwPort, _ := net.SplitHostPort(gw)
	cfgText := fmt.Sprintf(`{
	admin off
	auto_https disable_redirects
	skip_install_trust
	storage file_system %[1]s/caddy
	picket_cloudflare {
		static 127.0.0.2/32
	}
	servers :%[2]s {
		listener_wrappers {
			picket_admission
			tls
		}
		trusted_proxies picket_cloudflare
	}
}
https://localhost:%[2]s {
	bind 127.0.0.1
	tls internal {
		client_auth {
			mode require_and_verify
			trust_pool picket_aop {
				pem_file %[1]s/cfstandin/ca.pem
			}
			verifier picket_aop
		}
	}
	picket_client_ip {
		origin_key %[3]s
	}
	picket_header_hygiene
	reverse_proxy %[4]s {
		header_up -X-Forwarded-For
		header_up X-Picket-Client {picket.origin_header}
		header_up X-Request-Id {http.request.uuid}
	}
}
`, dir, gwPort, testKey, strings.TrimPrefix(origin.URL, "http://"))
	a := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	js, _, err := a.Adapt([]byte(cfgText), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	if err := caddy.Load(js, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	defer func() { _ = caddy.Stop() }()

	h, err := newProxy(config{
		Upstream: "https://" + gw, Host: "localhost", Source: "127.0.0.2",
	}, cert, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	standin := httptest.NewServer(h)
	defer standin.Close()

	t.Run("through the stand-in", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, standin.URL+"/health", nil)
		req.Header.Set("X-Forwarded-For", "192.0.2.1")
		req.Header.Set("CF-Connecting-IP", "203.0.113.9")
		// the internal issuer makes the gateway's certificate in the
		// background: until then the stand-in answers 502.
		var resp *http.Response
		for deadline := time.Now().Add(20 * time.Second); ; {
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadGateway || time.Now().After(deadline) {
				break
			}
			resp.Body.Close()
			time.Sleep(50 * time.Millisecond)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status: got %d, want 200 (%s)", resp.StatusCode, body)
		}
		var s seen
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("origin answer %q: %v", body, err)
		}
		if want := "127.0.0.1|cloudflare|true"; !s.Verified || s.Client != want {
			t.Fatalf("origin saw verified=%v %q, want a verified %q", s.Verified, s.Client, want)
		}
		for _, k := range []string{"X-Forwarded-For", "Cf-Connecting-Ip", "X-Picket-Client"} {
			if v := s.Headers.Get(k); v != "" {
				t.Fatalf("origin got %s: %q, want none", k, v)
			}
		}
	})

	t.Run("direct to the gateway", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, Certificates: []tls.Certificate{cert},
		}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get("https://" + gw + "/health")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("direct request answered %d, want the connection refused", resp.StatusCode)
		}
	})
}
