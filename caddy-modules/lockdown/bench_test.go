package lockdown

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func snapshotCloudflare(b *testing.B) *Cloudflare {
	set, err := parsePrefixes(append(append([]string(nil), snapshotIPv4...), snapshotIPv6...))
	if err != nil {
		b.Fatal(err)
	}
	c := &Cloudflare{src: &rangeSource{}}
	c.src.cur.Store(newRangeState(set, time.Time{}))
	return c
}

// BenchmarkContains checks a peer against the compiled-in snapshot (worst
// case: an IPv6 address in the last range).
func BenchmarkContains(b *testing.B) {
	cf := snapshotCloudflare(b)
	ip := netip.MustParseAddr("2c0f:f248::1")
	for b.Loop() {
		if !cf.Contains(ip) {
			b.Fatal("not contained")
		}
	}
}

// BenchmarkClientIP runs the handler for a Cloudflare peer with a valid
// CF-Connecting-IP, signing the origin header.
func BenchmarkClientIP(b *testing.B) {
	h := &ClientIP{
		Admission: AdmissionClose,
		cf:        snapshotCloudflare(b),
		key:       []byte(testOriginKey),
		now:       time.Now,
		logger:    zap.NewNop(),
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "[2606:4700::6810:85e5]:40000"
		r.Header.Set("CF-Connecting-IP", "198.51.100.7")
		r.Header.Set("X-Forwarded-For", "192.0.2.1")
		ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
		if err := h.ServeHTTP(w, r.WithContext(ctx), next); err != nil {
			b.Fatal(err)
		}
	}
}
