package lockdown

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/internal/gateway"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// The loopback peers that the test configuration lists as Cloudflare's
// edge, and one that it does not.
var (
	edgeV4a  = net.ParseIP("127.0.0.2")
	edgeV4b  = net.ParseIP("127.0.0.3")
	edgeV6   = net.ParseIP("::1")
	outsider = net.ParseIP("127.0.0.1")
)

const testOriginKey = "0123456789abcdef0123456789abcdef-test-only"

// echoBody makes the handler after picket_client_ip report what it saw.
const echoBody = "{picket.client_ip}|{picket.source}" +
	"|{http.request.header.CF-Connecting-IP}|{http.request.header.X-Forwarded-For}" +
	"|{http.request.header.X-Real-IP}|{http.request.header.True-Client-IP}" +
	"|{http.request.header.Forwarded}|{picket.origin_header}|{http.request.uuid}|{http.vars.client_ip}"

// echo is the parsed echoBody.
type echo struct {
	clientIP, source                                   string
	cfIP, xff, realIP, trueClientIP, forwarded, origin string
	requestID                                          string
}

func parseEcho(t *testing.T, body string) echo {
	t.Helper()
	f := strings.Split(body, "|")
	if len(f) != 10 {
		t.Fatalf("echo body %q: got %d fields, want 10", body, len(f))
	}
	if f[9] != f[0] {
		t.Fatalf("caddy's client_ip %q disagrees with picket's %q", f[9], f[0])
	}
	return echo{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
}

// lab is a Caddy with two servers on loopback: "aop" (admission listener,
// mTLS with two trusted CAs, picket_client_ip with admission close) on an
// IPv4 and an IPv6 address, and "open" (plain TLS, no listener admission,
// one route per handler admission mode).
type lab struct {
	aopV4, aopV6, open string // host:port
	serverCA           *testCert
	zoneCA, otherCA    *testCert
	secondCA           *testCert
	logFile            string
}

func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", host, err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startLab(t *testing.T) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("in-process Caddy with TLS on loopback; skipped under -short")
	}
	dir := t.TempDir()
	l := &lab{
		aopV4:    freePort(t, "127.0.0.1"),
		aopV6:    freePort(t, "::1"),
		open:     freePort(t, "127.0.0.1"),
		serverCA: newCA(t, "test server CA"),
		zoneCA:   newCA(t, "test zone origin-pull CA"),
		secondCA: newCA(t, "test next origin-pull CA"),
		otherCA:  newCA(t, "test unrelated CA"),
		logFile:  filepath.Join(dir, "caddy.log"),
	}
	srv := issue(t, l.serverCA, certOpts{
		cn: "localhost", dnsNames: []string{"localhost"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})

	echoRoute := map[string]any{"handle": []any{map[string]any{
		"handler": "static_response", "body": echoBody,
	}}}
	clientIP := func(extra map[string]any) map[string]any {
		h := map[string]any{"handler": "picket_client_ip"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	pathRoute := func(path string, h map[string]any) map[string]any {
		return map[string]any{
			"match":  []any{map[string]any{"path": []string{path}}},
			"handle": []any{h},
		}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{
			"level":  "DEBUG",
			"writer": map[string]any{"output": "file", "filename": l.logFile},
		}}},
		"apps": map[string]any{
			AppName: map[string]any{
				"static": []string{"127.0.0.2/32", "127.0.0.3", "::1/128"},
			},
			"tls": map[string]any{"certificates": map[string]any{"load_pem": []any{
				map[string]any{"certificate": string(srv.certPEM()), "key": string(srv.keyPEM(t))},
			}}},
			"http": map[string]any{"servers": map[string]any{
				"aop": map[string]any{
					"listen":            []string{l.aopV4, l.aopV6},
					"trusted_proxies":   map[string]any{"source": "picket_cloudflare"},
					"client_ip_headers": []string{"CF-Connecting-IP"},
					"listener_wrappers": []any{
						map[string]any{"wrapper": "picket_admission"},
						map[string]any{"wrapper": "tls"},
					},
					"tls_connection_policies": []any{map[string]any{
						"client_authentication": map[string]any{
							"ca": map[string]any{
								"provider": "picket_aop",
								"pem_files": []string{
									l.zoneCA.writePEM(t, dir, "zone-ca.pem"),
									l.secondCA.writePEM(t, dir, "next-ca.pem"),
								},
							},
							"verifiers": []any{map[string]any{"verifier": "picket_aop"}},
							"mode":      "require_and_verify",
						},
					}},
					"automatic_https": map[string]any{"disable": true},
					"routes": []any{
						map[string]any{"handle": []any{clientIP(map[string]any{"origin_key": testOriginKey})}},
						map[string]any{
							"match": []any{map[string]any{"picket_source": []string{"cloudflare"}}},
							"handle": []any{map[string]any{"handler": "headers",
								"response": map[string]any{"set": map[string][]string{"X-Matched": {"cloudflare"}}}}},
						},
						echoRoute,
					},
				},
				"open": map[string]any{
					"listen":                  []string{l.open},
					"tls_connection_policies": []any{map[string]any{}},
					"automatic_https":         map[string]any{"disable": true},
					"routes": []any{
						pathRoute("/forbidden", clientIP(map[string]any{"admission": "forbidden"})),
						pathRoute("/close", clientIP(nil)),
						pathRoute("/onion", clientIP(map[string]any{"source": "onion"})),
						map[string]any{
							"match": []any{map[string]any{"not": []any{map[string]any{
								"path": []string{"/forbidden", "/close", "/onion"},
							}}}},
							"handle": []any{clientIP(map[string]any{"admission": "off"})},
						},
						echoRoute,
					},
				},
			}},
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(b, true); err != nil {
		t.Fatalf("loading caddy config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return l
}

// call is one request through a fresh TLS connection.
type call struct {
	from    net.IP // local source address
	to      string // host:port
	cert    *testCert
	path    string
	headers http.Header
	host    string // Host header; default localhost
}

func (l *lab) do(t *testing.T, c call) (*http.Response, string, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(l.serverCA.cert)
	tcfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if c.cert != nil {
		// sent whatever CAs the server names, so the server itself must
		// refuse a wrong one.
		cert := c.cert.tlsCert()
		tcfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if c.from != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: c.from}
	}
	tr := &http.Transport{
		TLSClientConfig:   tcfg,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, c.to)
		},
	}
	defer tr.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(c.to)
	req, err := http.NewRequest(http.MethodGet, "https://localhost:"+port+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if c.host != "" {
		req.Host = c.host
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func (l *lab) mustEcho(t *testing.T, c call) (echo, *http.Response) {
	t.Helper()
	resp, body, err := l.do(t, c)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %q)", resp.StatusCode, body)
	}
	return parseEcho(t, body), resp
}

func refused(stage, reason string) float64 {
	return testutil.ToFloat64(refusedTotal.WithLabelValues(stage, reason))
}

func clientLeaf(t *testing.T, ca *testCert, o certOpts) *testCert {
	if o.cn == "" {
		o.cn = "edge client"
	}
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return issue(t, ca, o)
}

func spoofHeaders() http.Header {
	return http.Header{
		"Cf-Connecting-Ip": {"203.0.113.66"},
		"X-Forwarded-For":  {"192.0.2.66, 198.51.100.66"},
		"X-Real-Ip":        {"192.0.2.67"},
		"True-Client-Ip":   {"192.0.2.68"},
		"Forwarded":        {"for=192.0.2.69"},
		"X-Picket-Client":  {"v1;ip=192.0.2.70;source=cloudflare;pull=1;t=0;sig=x"},
	}
}

func TestLockdown(t *testing.T) {
	l := startLab(t)
	good := clientLeaf(t, l.zoneCA, certOpts{})

	t.Run("outsider refused before the TLS handshake", func(t *testing.T) {
		before := refused("listener", reasonNotAllowed)
		_, _, err := l.do(t, call{from: outsider, to: l.aopV4, cert: good, headers: spoofHeaders()})
		if err == nil {
			t.Fatal("request from a peer outside the list succeeded")
		}
		if got := refused("listener", reasonNotAllowed) - before; got != 1 {
			t.Fatalf("listener refusals: got +%v, want +1", got)
		}
		// the raw socket is closed without a byte written: no TLS alert,
		// no server hello.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: outsider}}
		conn, err := d.Dial("tcp", l.aopV4)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(make([]byte, 1))
		if n != 0 || err == nil {
			t.Fatalf("read from refused connection: got %d bytes, err %v; want 0 and an error", n, err)
		}
	})

	t.Run("admission off: headers ignored and stripped, peer is the client", func(t *testing.T) {
		e, _ := l.mustEcho(t, call{from: outsider, to: l.open, path: "/", headers: spoofHeaders()})
		want := echo{clientIP: "127.0.0.1", source: "local", requestID: e.requestID}
		if e != want {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	})

	t.Run("handler admission forbidden answers a fixed 403", func(t *testing.T) {
		before := refused("handler", reasonNotAllowed)
		resp, body, err := l.do(t, call{from: outsider, to: l.open, path: "/forbidden", headers: spoofHeaders()})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"code":"not_admitted"`) {
			t.Fatalf("got %d %q, want 403 not_admitted", resp.StatusCode, body)
		}
		if got := refused("handler", reasonNotAllowed) - before; got != 1 {
			t.Fatalf("handler refusals: got +%v, want +1", got)
		}
	})

	t.Run("handler admission close drops the connection", func(t *testing.T) {
		_, _, err := l.do(t, call{from: outsider, to: l.open, path: "/close"})
		if err == nil {
			t.Fatal("got a response, want the connection dropped")
		}
	})

	t.Run("edge peer on a plain listener is admitted by the handler", func(t *testing.T) {
		e, _ := l.mustEcho(t, call{from: edgeV4b, to: l.open, path: "/close",
			headers: http.Header{"Cf-Connecting-Ip": {"198.51.100.7"}}})
		if e.clientIP != "198.51.100.7" || e.source != "cloudflare" {
			t.Fatalf("got %s %s, want 198.51.100.7 cloudflare", e.clientIP, e.source)
		}
	})

	t.Run("onion site has no client IP", func(t *testing.T) {
		e, _ := l.mustEcho(t, call{from: outsider, to: l.open, path: "/onion", headers: spoofHeaders()})
		want := echo{clientIP: "", source: "onion", requestID: e.requestID}
		if e != want {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	})

	t.Run("cloudflare peer: CF-Connecting-IP, signed origin header, headers stripped", func(t *testing.T) {
		e, resp := l.mustEcho(t, call{from: edgeV4a, to: l.aopV4, cert: good, headers: func() http.Header {
			h := spoofHeaders()
			h.Set("Cf-Connecting-Ip", "198.51.100.7")
			return h
		}()})
		if e.clientIP != "198.51.100.7" || e.source != "cloudflare" {
			t.Fatalf("got %s %s, want 198.51.100.7 cloudflare", e.clientIP, e.source)
		}
		if e.cfIP+e.xff+e.realIP+e.trueClientIP+e.forwarded != "" {
			t.Fatalf("inbound address headers survived: %+v", e)
		}
		if got := resp.Header.Get("X-Matched"); got != "cloudflare" {
			t.Fatalf("picket_source matcher: got %q, want cloudflare", got)
		}
		c, err := gateway.Parse([]byte(testOriginKey), e.origin, e.requestID, time.Now(), time.Minute)
		if err != nil {
			t.Fatalf("origin header %q: %v", e.origin, err)
		}
		if c.IP.String() != "198.51.100.7" || c.Source != "cloudflare" || !c.VerifiedPull {
			t.Fatalf("origin header: got %+v, want 198.51.100.7 cloudflare pull", c)
		}
	})

	t.Run("X-Forwarded-For never chooses the client", func(t *testing.T) {
		keys := map[string]bool{}
		for i := range 20 {
			e, _ := l.mustEcho(t, call{from: edgeV4a, to: l.aopV4, cert: good, headers: http.Header{
				"X-Forwarded-For": {fmt.Sprintf("192.0.2.%d, 203.0.113.1", i+1)},
			}})
			if e.clientIP != "127.0.0.2" {
				t.Fatalf("request %d: client IP got %s, want the peer 127.0.0.2", i, e.clientIP)
			}
			keys[edgeKey(t, e.clientIP)] = true
		}
		if len(keys) != 1 {
			t.Fatalf("identities: got %d, want 1", len(keys))
		}
	})

	t.Run("IPv6 edge peer recognised", func(t *testing.T) {
		e, _ := l.mustEcho(t, call{from: edgeV6, to: l.aopV6, cert: good,
			headers: http.Header{"Cf-Connecting-Ip": {"2001:db8::7"}}})
		if e.clientIP != "2001:db8::7" || e.source != "cloudflare" {
			t.Fatalf("got %s %s, want 2001:db8::7 cloudflare", e.clientIP, e.source)
		}
	})

	t.Run("bad CF-Connecting-IP is absent", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			values []string
		}{
			{"list", []string{"198.51.100.7, 203.0.113.1"}},
			{"not an ip", []string{"not-an-ip"}},
			{"zoned", []string{"fe80::1%eth0"}},
			{"empty", []string{""}},
			{"two headers", []string{"198.51.100.7", "203.0.113.1"}},
			{"with port", []string{"198.51.100.7:443"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := testutil.ToFloat64(clientIPHeaderTotal.WithLabelValues("invalid"))
				e, _ := l.mustEcho(t, call{from: edgeV4a, to: l.aopV4, cert: good,
					headers: http.Header{"Cf-Connecting-Ip": tt.values}})
				if e.clientIP != "127.0.0.2" || e.cfIP != "" {
					t.Fatalf("client IP got %q (header %q left), want the peer 127.0.0.2", e.clientIP, e.cfIP)
				}
				if got := testutil.ToFloat64(clientIPHeaderTotal.WithLabelValues("invalid")) - before; got != 1 {
					t.Fatalf("invalid count: got +%v, want +1", got)
				}
			})
		}
	})

	t.Run("strict SNI and Host", func(t *testing.T) {
		resp, _, err := l.do(t, call{from: edgeV4a, to: l.aopV4, cert: good, host: "other.example"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("status: got %d, want 421", resp.StatusCode)
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		testClientCerts(t, l)
	})

	t.Run("no marker address in the logs", func(t *testing.T) {
		_ = caddy.Stop()
		b, err := os.ReadFile(l.logFile)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("PICKET_DUMP_LOG") != "" {
			t.Logf("%s", b)
		}
		for _, m := range []string{"198.51.100.", "203.0.113.", "192.0.2.", "2001:db8"} {
			if strings.Contains(string(b), m) {
				t.Fatalf("log contains %q", m)
			}
		}
	})
}

func edgeKey(t *testing.T, ip string) string {
	t.Helper()
	c := &edge.Client{Source: edge.SourceCloudflare}
	var err error
	if c.IP, err = netip.ParseAddr(ip); err != nil {
		t.Fatal(err)
	}
	return c.Key()
}

func testClientCerts(t *testing.T, l *lab) {
	now := time.Now()
	tests := []struct {
		name string
		cert *testCert
		ok   bool
		// verifier refusal expected, "" when Go's TLS stack refuses first
		reason string
		alert  string
	}{
		{"none", nil, false, "", "certificate required"},
		{"another CA's leaf", clientLeaf(t, l.otherCA, certOpts{}), false, "", "unknown certificate authority"},
		{"expired one second ago", clientLeaf(t, l.zoneCA, certOpts{
			notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Second),
		}), false, "", "expired certificate"},
		{"not yet valid", clientLeaf(t, l.zoneCA, certOpts{
			notBefore: now.Add(time.Hour), notAfter: now.Add(48 * time.Hour),
		}), false, "", "expired certificate"},
		{"CA certificate as client", l.zoneCA, false, "leaf_is_ca", "bad certificate"},
		{"intermediate CA as client", issue(t, l.zoneCA, certOpts{
			cn: "sub CA", isCA: true, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}), false, "leaf_is_ca", "bad certificate"},
		{"serverAuth-only leaf", clientLeaf(t, l.zoneCA, certOpts{
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}), false, "", "bad certificate"},
		{"leaf without any extended usage", clientLeaf(t, l.zoneCA, certOpts{
			eku: []x509.ExtKeyUsage{},
		}), false, "no_client_auth_usage", "bad certificate"},
		{"valid leaf from the zone CA", clientLeaf(t, l.zoneCA, certOpts{}), true, "", ""},
		{"valid leaf from the second CA", clientLeaf(t, l.secondCA, certOpts{}), true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := refused("tls", tt.reason)
			resp, body, err := l.do(t, call{from: edgeV4a, to: l.aopV4, cert: tt.cert})
			if !tt.ok {
				if err == nil {
					t.Fatalf("got %d %q, want the handshake to fail", resp.StatusCode, body)
				}
				if !strings.Contains(err.Error(), tt.alert) {
					t.Fatalf("handshake error: got %v, want alert %q", err, tt.alert)
				}
				if tt.reason != "" && refused("tls", tt.reason)-before != 1 {
					t.Fatalf("verifier refusal %s: got +%v, want +1", tt.reason, refused("tls", tt.reason)-before)
				}
				return
			}
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			e := parseEcho(t, body)
			c, err := gateway.Parse([]byte(testOriginKey), e.origin, e.requestID, time.Now(), time.Minute)
			if err != nil || !c.VerifiedPull {
				t.Fatalf("origin header: got %+v, %v; want a verified pull", c, err)
			}
		})
	}
}
