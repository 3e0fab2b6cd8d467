package onion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(untyped{})
}

// untyped writes an HTML body with an Onion-Location but no Content-Type,
// leaving the type to sniffing.
type untyped struct{}

func (untyped) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_test_untyped",
		New: func() caddy.Module { return new(untyped) },
	}
}

func (untyped) ServeHTTP(w http.ResponseWriter, _ *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Onion-Location", "http://upstream.onion/")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("<!doctype html><html><p>hi</p></html>"))
	return err
}

const testOnion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion"

// selfSigned returns a PEM certificate and key for localhost.
func selfSigned(t *testing.T) (certPEM, keyPEM string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), pool
}

// pageRoutes answers /page with HTML, /data with JSON and /sniff with an
// untyped HTML body, each with an Onion-Location of its own as an origin
// might send; /old is rewritten to /page.
func pageRoutes(first map[string]any) []any {
	resp := func(path, ct, body string) map[string]any {
		hdr := map[string]any{"Onion-Location": []string{"http://upstream.onion/"}}
		if ct != "" {
			hdr["Content-Type"] = []string{ct}
		}
		return map[string]any{
			"match":  []any{map[string]any{"path": []string{path}}},
			"handle": []any{map[string]any{"handler": "static_response", "headers": hdr, "body": body}},
		}
	}
	handlers := []any{}
	if first != nil {
		handlers = append(handlers, first)
	}
	handlers = append(handlers,
		map[string]any{"handler": "picket_onion_location", "address": testOnion},
		map[string]any{"handler": "subroute", "routes": []any{
			map[string]any{
				"match":  []any{map[string]any{"path": []string{"/old"}}},
				"handle": []any{map[string]any{"handler": "rewrite", "uri": "/page?moved=1"}},
			},
			resp("/page", "text/html; charset=utf-8", "<p>hi</p>"),
			resp("/data", "application/json", "{}"),
			map[string]any{
				"match":  []any{map[string]any{"path": []string{"/sniff"}}},
				"handle": []any{map[string]any{"handler": "picket_test_untyped"}},
			},
		}},
	)
	return []any{map[string]any{"handle": handlers}}
}

func TestOnionLocation(t *testing.T) {
	certPEM, keyPEM, pool := selfSigned(t)
	httpsPort, httpPort := freePort(t), freePort(t)
	sock := sockPath(t)
	loadCaddy(t, map[string]any{"apps": map[string]any{
		"tls": map[string]any{"certificates": map[string]any{
			"load_pem": []any{map[string]any{"certificate": certPEM, "key": keyPEM}},
		}},
		"http": map[string]any{
			"http_port":  httpPort,
			"https_port": httpsPort,
			"servers": map[string]any{
				"clearnet": map[string]any{
					"listen":                  []string{fmt.Sprintf("127.0.0.1:%d", httpsPort)},
					"protocols":               []string{"h1", "h2"},
					"tls_connection_policies": []any{map[string]any{}},
					"automatic_https":         map[string]any{"disable": true},
					"routes":                  pageRoutes(nil),
				},
				"plain": map[string]any{
					"listen":          []string{fmt.Sprintf("127.0.0.1:%d", httpPort)},
					"automatic_https": map[string]any{"disable": true},
					"routes":          pageRoutes(nil),
				},
				"onion": onionServer(sock, pageRoutes(map[string]any{"handler": "picket_onion_source"})),
			},
		},
	}}, "")

	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost"},
		ForceAttemptHTTP2: true,
	}}
	plainClient := &http.Client{Timeout: 10 * time.Second}
	httpsURL := fmt.Sprintf("https://localhost:%d", httpsPort)
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", httpPort)

	tests := []struct {
		name   string
		client *http.Client
		url    string
		method string
		want   []string
	}{
		{name: "https html", client: tlsClient, url: httpsURL + "/page?a=1&b=%20x",
			want: []string{"http://" + testOnion + "/page?a=1&b=%20x"}},
		{name: "https head", client: tlsClient, url: httpsURL + "/page", method: "HEAD",
			want: []string{"http://" + testOnion + "/page"}},
		{name: "https sniffed html", client: tlsClient, url: httpsURL + "/sniff",
			want: []string{"http://" + testOnion + "/sniff"}},
		{name: "https rewritten keeps original", client: tlsClient, url: httpsURL + "/old?q=2",
			want: []string{"http://" + testOnion + "/old?q=2"}},
		{name: "https json", client: tlsClient, url: httpsURL + "/data"},
		{name: "plain http", client: plainClient, url: httpURL + "/page"},
		{name: "onion", client: onionClient(sock, 3, false), url: "http://" + testOnion + "/page"},
		{name: "onion h2", client: onionClient(sock, 3, true), url: "http://" + testOnion + "/page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req, err := http.NewRequest(method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			got := resp.Header.Values("Onion-Location")
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got Onion-Location %q, want %q (%s)", got, tt.want, resp.Proto)
			}
		})
	}
}

func TestOnionLocationWithoutAddress(t *testing.T) {
	if _, ok := Status(); ok {
		t.Fatal("an onion app is still running")
	}
	req := httptest.NewRequest("GET", "https://localhost/page", nil)
	req.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	l := new(Location)
	err := l.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Onion-Location", "http://upstream.onion/")
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Values("Onion-Location"); len(got) != 0 {
		t.Fatalf("got Onion-Location %q with no onion app, want none", got)
	}
}
