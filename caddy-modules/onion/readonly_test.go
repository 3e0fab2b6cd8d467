package onion

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type methodCase struct {
	name     string
	method   string
	target   string
	header   map[string]string
	body     string
	h1Only   bool // connection-specific headers cannot be sent over HTTP/2
	want     int
	wantCode string
}

func methodCases() []methodCase {
	cases := []methodCase{
		{name: "GET", method: "GET", target: "/", want: 200},
		{name: "HEAD", method: "HEAD", target: "/", want: 200},
		{name: "OPTIONS", method: "OPTIONS", target: "/", want: 204},
		{name: "CONNECT", method: "CONNECT", target: "x.onion:80", want: 405, wantCode: "read_only"},
		{name: "TRACE", method: "TRACE", target: "/", want: 405, wantCode: "read_only"},
		{name: "GET with body", method: "GET", target: "/", body: "a=1", want: 400, wantCode: "body_not_allowed"},
		{name: "override on GET", method: "GET", target: "/",
			header: map[string]string{"X-HTTP-Method-Override": "DELETE"}, want: 400, wantCode: "method_override"},
		{name: "_method", method: "GET", target: "/?_method=DELETE", want: 400, wantCode: "method_override"},
		{name: "_METHOD later", method: "GET", target: "/?a=1&_METHOD=put", want: 400, wantCode: "method_override"},
		{name: "_method encoded", method: "GET", target: "/?%5Fmethod=put", want: 400, wantCode: "method_override"},
		{name: "_method on POST", method: "POST", target: "/?_method=GET", body: "a=1", want: 400, wantCode: "method_override"},
		{name: "upgrade h2c", method: "GET", target: "/", h1Only: true, header: map[string]string{
			"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
		}, want: 400, wantCode: "upgrade_refused"},
		{name: "websocket on POST", method: "POST", target: "/", body: "a=1", h1Only: true, header: map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
		}, want: 400, wantCode: "upgrade_refused"},
		{name: "websocket on GET", method: "GET", target: "/", h1Only: true, header: map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
		}, want: 400, wantCode: "upgrade_refused"},
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "PROPFIND", "MKCOL", "LOCK", "FOO", "get", "post", "Get"} {
		cases = append(cases, methodCase{name: m, method: m, target: "/", body: "a=1", want: 405, wantCode: "read_only"})
	}
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "x-http-method-override"} {
		cases = append(cases, methodCase{name: "POST " + h, method: "POST", target: "/", body: "a=1",
			header: map[string]string{h: "GET"}, want: 400, wantCode: "method_override"})
	}
	return cases
}

func TestMethodTable(t *testing.T) {
	sock := sockPath(t)
	loadCaddy(t, map[string]any{"apps": map[string]any{"http": map[string]any{
		"servers": map[string]any{"onion": onionServer(sock, []any{echoRoute()})},
	}}}, "")

	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range methodCases() {
				if proto == "HTTP/2" && tc.h1Only {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					var resp *http.Response
					if proto == "HTTP/1.1" {
						resp = rawRequest(t, sock, 7, rawH1(tc))
					} else {
						resp = h2Request(t, sock, tc)
					}
					checkMethodResponse(t, tc, resp)
				})
			}
		})
	}
}

func rawH1(tc methodCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x.onion\r\n", tc.method, tc.target)
	for k, v := range tc.header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if tc.body != "" {
		fmt.Fprintf(&b, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", len(tc.body))
	}
	b.WriteString("\r\n" + tc.body)
	return b.String()
}

func h2Request(t *testing.T, sock string, tc methodCase) *http.Response {
	t.Helper()
	var body *strings.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
	}
	u := "http://x.onion" + tc.target
	if tc.method == "CONNECT" {
		u = "http://" + tc.target
	}
	req, err := http.NewRequest(tc.method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req, _ = http.NewRequest(tc.method, u, body)
	}
	if tc.method == "CONNECT" {
		req.URL = &url.URL{Scheme: "http", Host: tc.target}
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := onionClient(sock, 7, true).Do(req)
	if err != nil {
		t.Fatalf("%s over HTTP/2: %v", tc.method, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("got %s, want HTTP/2", resp.Proto)
	}
	return resp
}

func checkMethodResponse(t *testing.T, tc methodCase, resp *http.Response) {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != tc.want {
		t.Fatalf("got status %d, want %d (body %q)", resp.StatusCode, tc.want, body)
	}
	allow := resp.Header.Get("Allow")
	if (tc.want == 405 || tc.want == 204) && allow != "GET, HEAD, OPTIONS" {
		t.Fatalf("got Allow %q, want %q", allow, "GET, HEAD, OPTIONS")
	}
	if tc.want == 200 && tc.method == "GET" && !strings.HasPrefix(body, "source=onion circuit=7 ") {
		t.Fatalf("got body %q, want the echo for circuit 7", body)
	}
	if tc.wantCode == "" {
		return
	}
	var e struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("got body %q, want JSON: %v", body, err)
	}
	if e.Error.Code != tc.wantCode {
		t.Fatalf("got code %q, want %q", e.Error.Code, tc.wantCode)
	}
}

func TestRefusalPageForBrowsers(t *testing.T) {
	sock := sockPath(t)
	route := echoRoute()
	route["handle"].([]any)[0] = map[string]any{
		"handler": "picket_onion_source", "clearnet_url": "https://union.example/",
	}
	loadCaddy(t, map[string]any{"apps": map[string]any{"http": map[string]any{
		"servers": map[string]any{"onion": onionServer(sock, []any{route})},
	}}}, "")

	resp := rawRequest(t, sock, 1, "POST /vote HTTP/1.1\r\nHost: x.onion\r\n"+
		"Accept: text/html,application/xhtml+xml;q=0.9\r\nContent-Length: 1\r\n\r\nx")
	body := readBody(t, resp)
	if resp.StatusCode != 405 {
		t.Fatalf("got status %d, want 405", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("got Content-Type %q, want text/html", ct)
	}
	for _, want := range []string{"clearnet", `href="https://union.example/"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("page %q lacks %q", body, want)
		}
	}
}

func TestSourceByListener(t *testing.T) {
	sock := sockPath(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	loadCaddy(t, map[string]any{"apps": map[string]any{"http": map[string]any{
		"servers": map[string]any{"onion": onionServer(sock, []any{echoRoute()})},
	}}}, logFile)

	const marker = "203.0.113.77"
	forged := "GET / HTTP/1.1\r\nHost: x.onion\r\n" +
		"X-Forwarded-For: " + marker + "\r\nCF-Connecting-IP: " + marker + "\r\n" +
		"X-Real-IP: " + marker + "\r\nForwarded: for=" + marker + "\r\nCF-Ray: 1-AMS\r\n\r\n"
	tests := []struct {
		name    string
		circuit uint32
		want    string
	}{
		{name: "first circuit", circuit: 1, want: "source=onion circuit=1 ip= xff= cf= real= fwd="},
		{name: "second circuit", circuit: 4294967295, want: "source=onion circuit=4294967295 ip= xff= cf= real= fwd="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, sock, tt.circuit, forged)
			if got := readBody(t, resp); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("no circuit header", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(forged)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if n, err := c.Read(buf); err == nil {
			t.Fatalf("got %q, want the stream closed", buf[:n])
		}
	})

	caddyStopAndCheckLog(t, logFile, marker)
}

// caddyStopAndCheckLog fails if the log file names marker.
func caddyStopAndCheckLog(t *testing.T, logFile, marker string) {
	t.Helper()
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), marker) {
		t.Fatalf("log contains %q:\n%s", marker, raw)
	}
}
