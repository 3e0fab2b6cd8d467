package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/picket-edge/picket/internal/gateway"
)

// echoed is what echoOrigin answers: the headers it received and what the
// gateway's signed client header told it.
type echoed struct {
	Headers  http.Header `json:"headers"`
	Verified bool        `json:"verified"`
	ClientIP string      `json:"client_ip"`
	Source   string      `json:"source"`
	Pull     bool        `json:"pull"`
}

// echoOrigin stands in for the origin: it checks the gateway's client
// header as the real origin does and answers with what it received.
func echoOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	var raw http.Header
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := echoed{Headers: raw}
		if c, ok := gateway.From(r.Context()); ok {
			out.Verified, out.Source, out.Pull = true, c.Source, c.VerifiedPull
			if c.IP.IsValid() {
				out.ClientIP = c.IP.String()
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Server", "origin-banner/1.0")
		_ = json.NewEncoder(w).Encode(out)
	})
	verify, err := gateway.Verify(inner, gateway.VerifyConfig{Key: []byte(testGatewayKey)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw = r.Header.Clone() // requests in these tests are sequential
		verify.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestEdgeStripsSpoofableHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	origin := echoOrigin(t)
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"))

	const markerUA = "marker-agent/7.7.7"
	const markerCookie = "session=marker-cookie-5f3a"
	spoofed := map[string]string{
		"X-Forwarded-For":   "198.51.100.7",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "http",
		"Forwarded":         "for=198.51.100.8",
		"X-Real-IP":         "198.51.100.9",
		"CF-IPCountry":      "XX",
		"True-Client-IP":    "203.0.113.11",
		"X-Client-IP":       "203.0.113.12",
		"CF-Connecting-IP":  "203.0.113.10",
		"X-Picket-Source":   "local",
		"Via":               "1.1 evil",
	}
	tests := []struct {
		name      string
		client    *http.Client
		base      string
		proto     string
		wantIP    string
		connectIP bool // whether the request itself carries CF-Connecting-IP
	}{
		// through the stand-in, which sets CF-Connecting-IP to its caller
		{name: "through Cloudflare", client: http.DefaultClient, base: e.base, proto: "HTTP/1.1", wantIP: "127.0.0.1"},
		// straight from an edge address: CF-Connecting-IP from a Cloudflare
		// peer is the one header believed
		{name: "edge peer HTTP/1.1", client: e.newClient(false), base: e.direct, proto: "HTTP/1.1", wantIP: "203.0.113.10", connectIP: true},
		{name: "edge peer HTTP/2", client: e.newClient(true), base: e.direct, proto: "HTTP/2.0", wantIP: "203.0.113.10", connectIP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.base+"/health", nil)
			for k, v := range spoofed {
				req.Header.Set(k, v)
			}
			req.Header.Set(gateway.Header, "v1;ip=198.51.100.66;source=local;pull=1;t=1;sig=forged")
			req.Header.Set("User-Agent", markerUA)
			req.Header.Set("Cookie", markerCookie)
			req.Header.Set("Authorization", "Bearer marker-token-91c2")
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tt.base == e.direct && resp.Proto != tt.proto {
				t.Fatalf("protocol: got %s, want %s", resp.Proto, tt.proto)
			}
			var got echoed
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			for k := range spoofed {
				if v := got.Headers.Values(k); len(v) > 0 {
					t.Errorf("origin received %s: %q, want it removed", k, v)
				}
			}
			if got.Headers.Get("X-Request-Id") == "" {
				t.Error("origin received no X-Request-Id")
			}
			if !got.Verified || got.ClientIP != tt.wantIP || got.Source != "cloudflare" || !got.Pull {
				t.Errorf("gateway header: got %+v, want verified, %s, cloudflare, pull", got, tt.wantIP)
			}
			checkResponseHeaders(t, resp)
		})
	}

	// the access log must exist and hold none of the planted values
	e.stop(t)
	logs := e.output.String()
	if !strings.Contains(logs, `"logger":"http.log.access`) {
		t.Fatalf("no access log line found in the edge output:\n%s", logs)
	}
	for _, marker := range []string{markerUA, "marker-cookie-5f3a", "marker-token-91c2", "203.0.113.10"} {
		if strings.Contains(logs, marker) {
			t.Errorf("edge output contains %q:\n%s", marker, logs)
		}
	}

	// the peer address is in every connection; it must not be in access lines
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"logger":"http.log.access`) &&
			(strings.Contains(line, "127.0.0.") || strings.Contains(line, "remote_ip")) {
			t.Errorf("access log line carries the peer address: %s", line)
		}
	}
}

func checkResponseHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got, want := resp.Header.Get("Strict-Transport-Security"),
		"max-age=31536000; includeSubDomains; preload"; got != want {
		t.Errorf("Strict-Transport-Security: got %q, want %q", got, want)
	}
	for _, banner := range []string{"Server", "Via"} {
		if got := resp.Header.Get(banner); got != "" {
			t.Errorf("%s: got %q, want no header", banner, got)
		}
	}
}

func TestEdgeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	e := startEdge(t, "127.0.0.1:1")
	addr := "127.0.0.1" + strings.TrimPrefix(e.direct, "https://localhost")
	noCert := func(c *tls.Config) *tls.Config { c.Certificates = nil; return c }
	tests := []struct {
		name    string
		conf    *tls.Config
		wantErr bool
	}{
		{name: "TLS 1.1", conf: e.tlsConfig(tls.VersionTLS11), wantErr: true},
		{name: "TLS 1.2", conf: e.tlsConfig(tls.VersionTLS12)},
		{name: "TLS 1.3", conf: e.tlsConfig(tls.VersionTLS13)},
		{name: "no origin-pull certificate", conf: noCert(e.tlsConfig(0)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := e.dialTLS(addr, tt.conf)
			if err == nil {
				// TLS 1.3 reports a refused client certificate on first read
				_ = conn.SetDeadline(timeNowPlus())
				_, err = conn.Read(make([]byte, 1))
				if isTimeout(err) {
					err = nil
				}
				conn.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("handshake error: got %v, want error %v", err, tt.wantErr)
			}
		})
	}

	t.Run("peer outside the edge list", func(t *testing.T) {
		// from 127.0.0.1, which the development list does not hold: the
		// connection is closed before the handshake
		conn, err := tls.Dial("tcp", addr, e.tlsConfig(0))
		if err == nil {
			conn.Close()
			t.Fatal("handshake from a non-edge peer succeeded")
		}
	})
}

func TestEdgeUnknownPathIsJSON404(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	origin := echoOrigin(t)
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"))
	resp, err := http.Get(e.base + "/wp-admin/setup.php")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status: got %d, want 404 (%s)", resp.StatusCode, body)
	}
	var parsed struct {
		Error struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	if parsed.Error.Code != "not_found" || parsed.Error.RequestID == "" {
		t.Fatalf("got %+v, want code not_found and a request id", parsed.Error)
	}
	checkResponseHeaders(t, resp)
}

func TestEdgePolicyRefusesScanners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	origin := echoOrigin(t)
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"))
	tests := []struct {
		name   string
		agent  string
		status int
	}{
		{name: "sqlmap", agent: "sqlmap/1.8#stable (https://sqlmap.org)", status: http.StatusForbidden},
		{name: "nikto", agent: "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None)", status: http.StatusForbidden},
		{name: "the app", agent: "UnitedUnions/1.0 Expo", status: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.base+"/health", nil)
			req.Header.Set("User-Agent", tt.agent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestEdgeOriginDown: with the origin unreachable the edge answers in the
// JSON error shape, and Caddy's error log, which carries the request, keeps
// no address, header or path id.
func TestEdgeOriginDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	// at DEBUG Caddy logs the failing request, TLS handshakes and more
	e := startEdge(t, "127.0.0.1:1", "PICKET_LOG_LEVEL=DEBUG")
	const (
		markerIP = "203.0.113.77"
		markerUA = "marker-agent-origin-down"
		markerID = "marker-union-slug-5531"
	)
	req, _ := http.NewRequest(http.MethodGet, e.direct+"/unions/"+markerID+"/posts?token=marker-query-77", nil)
	req.Header.Set("CF-Connecting-IP", markerIP)
	req.Header.Set("User-Agent", markerUA)
	resp, err := e.newClient(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"origin_unavailable"`) {
		t.Fatalf("got %d %s, want 503 origin_unavailable", resp.StatusCode, body)
	}
	var parsed struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil || parsed.Error.RequestID == "" ||
		resp.Header.Get("X-Request-Id") != parsed.Error.RequestID {
		t.Errorf("request id: body %s, header %q: want the same, non-empty", body, resp.Header.Get("X-Request-Id"))
	}
	checkResponseHeaders(t, resp)

	e.stop(t)
	logs := e.output.String()
	if !strings.Contains(logs, `"logger":"http.handlers.reverse_proxy"`) {
		t.Fatalf("no reverse_proxy debug line found in the edge output:\n%s", logs)
	}
	for _, marker := range []string{markerIP, markerUA, markerID, "marker-query-77"} {
		if strings.Contains(logs, marker) {
			t.Errorf("edge output contains %q:\n%s", marker, logs)
		}
	}
}
