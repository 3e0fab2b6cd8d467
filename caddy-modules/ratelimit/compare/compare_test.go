// Package compare holds the side-by-side benchmark; see docs/ratelimit.md.
package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	caddyrl "github.com/mholt/caddy-ratelimit"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/picket-edge/picket/caddy-modules/ratelimit"
)

// Equivalent configurations: 100 requests per minute per client address.
// picket adds a 10-minute block; the plugin has no block duration.
const (
	picketJSON = `{"zones":[{"name":"bench","period":60000000000,"requests":100,"block":600000000000}]}`
	mholtJSON  = `{"rate_limits":{"bench":{"key":"{http.request.remote.host}","window":60000000000,"max_events":100}}}`
)

type handler interface {
	caddy.Provisioner
	caddyhttp.MiddlewareHandler
}

func provision(b *testing.B, h handler, hcfg string) {
	b.Helper()
	if err := json.Unmarshal([]byte(hcfg), h); err != nil {
		b.Fatal(err)
	}
	// the plugin needs a running config (its events app), so both handlers
	// are provisioned in the context of a minimal loaded one.
	cfg := fmt.Sprintf(`{"admin":{"disabled":true},"storage":{"module":"file_system","root":%q}}`,
		b.TempDir())
	if err := caddy.Load([]byte(cfg), true); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = caddy.Stop() })
	ctx, cancel := caddy.NewContext(caddy.ActiveContext())
	b.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if c, ok := h.(caddy.CleanerUpper); ok {
		b.Cleanup(func() { _ = c.Cleanup() })
	}
}

func handlers() []struct {
	name string
	make func() handler
	cfg  string
} {
	return []struct {
		name string
		make func() handler
		cfg  string
	}{
		{"picket", func() handler { return new(ratelimit.Handler) }, picketJSON},
		{"mholt", func() handler { return new(caddyrl.Handler) }, mholtJSON},
	}
}

// requests prepares one request per client address, as Caddy's server
// would hand them to a handler.
func requests(n int) []*http.Request {
	out := make([]*http.Request, n)
	for i := range out {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", byte(i>>16), byte(i>>8), byte(i))
		ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
		ctx = context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, new(caddyhttp.ExtraLogFields))
		r = r.WithContext(ctx)
		repl := caddyhttp.NewTestReplacer(r)
		out[i] = r.WithContext(context.WithValue(ctx, caddy.ReplacerCtxKey, repl))
	}
	return out
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

var next = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// BenchmarkDecision: "allowed" spreads requests over 10,000 clients (run it
// with -benchtime 200000x so that none reaches the limit); "limited" is one
// client past its limit.
func BenchmarkDecision(b *testing.B) {
	for _, h := range handlers() {
		for _, c := range []struct {
			name    string
			clients int
			warm    int
		}{{"allowed-10k-clients", 10_000, 0}, {"limited-1-client", 1, 200}} {
			b.Run(h.name+"/"+c.name, func(b *testing.B) {
				hd := h.make()
				provision(b, hd, h.cfg)
				reqs := requests(c.clients)
				w := &discard{h: make(http.Header)}
				for i := 0; i < c.warm; i++ {
					_ = hd.ServeHTTP(w, reqs[0], next)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					clear(w.h)
					_ = hd.ServeHTTP(w, reqs[i%len(reqs)], next)
				}
			})
		}
	}
}

// BenchmarkBytesPerClient reports heap per tracked client at 20,000
// clients (the plugin keeps one timestamp per allowed event, so larger
// counts need gigabytes). Run it with -benchtime 1x.
func BenchmarkBytesPerClient(b *testing.B) {
	const n = 20_000
	for _, h := range handlers() {
		b.Run(h.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				reqs := requests(n)
				w := &discard{h: make(http.Header)}
				hd := h.make()
				provision(b, hd, h.cfg)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for _, r := range reqs {
					_ = hd.ServeHTTP(w, r, next)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(hd)
				runtime.KeepAlive(reqs)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/client")
			}
		})
	}
}
