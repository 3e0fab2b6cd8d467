package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echoOrigin stands in for the origin: it answers every request with the
// headers it received, as JSON.
func echoOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Server", "origin-banner/1.0")
		_ = json.NewEncoder(w).Encode(r.Header)
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
		"CF-Connecting-IP":  "203.0.113.10",
		"CF-IPCountry":      "XX",
		"True-Client-IP":    "203.0.113.11",
		"X-Client-IP":       "203.0.113.12",
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/health", nil)
	for k, v := range spoofed {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", markerUA)
	req.Header.Set("Cookie", markerCookie)
	req.Header.Set("Authorization", "Bearer marker-token-91c2")

	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			c := e.client
			if proto == "HTTP/1.1" {
				c = &http.Client{Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: "localhost"},
					TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
				}}
			}
			resp, err := c.Do(req.Clone(req.Context()))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Proto != proto {
				t.Fatalf("got %s, want %s", resp.Proto, proto)
			}
			var got http.Header
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			for k := range spoofed {
				if v := got.Values(k); len(v) > 0 {
					t.Errorf("origin received %s: %q, want it removed", k, v)
				}
			}
			if got.Get("X-Request-Id") == "" {
				t.Error("origin received no X-Request-Id")
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
	for _, marker := range []string{markerUA, "marker-cookie-5f3a", "marker-token-91c2"} {
		if strings.Contains(logs, marker) {
			t.Errorf("edge output contains %q:\n%s", marker, logs)
		}
	}

	// the peer address is in every connection; it must not be in access lines
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"logger":"http.log.access`) &&
			(strings.Contains(line, "127.0.0.1") || strings.Contains(line, "remote_ip")) {
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

func TestEdgeRefusesOldTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	e := startEdge(t, "127.0.0.1:1")
	host := strings.TrimPrefix(e.base, "https://localhost")
	tests := []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{name: "TLS 1.1", max: tls.VersionTLS11, wantErr: true},
		{name: "TLS 1.2", max: tls.VersionTLS12},
		{name: "TLS 1.3", max: tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", "127.0.0.1"+host, &tls.Config{
				RootCAs: e.roots, ServerName: "localhost",
				MinVersion: tls.VersionTLS10, MaxVersion: tt.max,
			})
			if err == nil {
				conn.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("handshake error: got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestEdgeUnknownPathIsJSON404(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the custom Caddy binary")
	}
	origin := echoOrigin(t)
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"))
	resp, err := e.client.Get(e.base + "/wp-admin/setup.php")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status: got %d, want 404", resp.StatusCode)
	}
	var body struct {
		Error struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if body.Error.Code != "not_found" || body.Error.RequestID == "" {
		t.Fatalf("got %+v, want code not_found and a request id", body.Error)
	}
	checkResponseHeaders(t, resp)
}
