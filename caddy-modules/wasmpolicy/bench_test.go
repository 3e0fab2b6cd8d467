package wasmpolicy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	hostgo "github.com/http-wasm/http-wasm-host-go/handler"
	nethttp "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/tetratelabs/wazero"
)

// The benchmarks run the header-inspecting example policy (blockscanners,
// which reads every User-Agent value) on a request that passes:
//
//	go test ./caddy-modules/wasmpolicy -run '^$' -bench . -benchmem
//
// BenchmarkRatio runs picket's host and http-wasm-host-go's net/http
// middleware on the same guest in the same run and reports their ratio.

var benchGuest = filepath.Join("..", "..", "wasm", "examples", "blockscanners", "blockscanners.wasm")

func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "/unions/42", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
	r.Header.Set("Accept", "application/json")
	return r
}

var nextHTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
})

// picketServe returns a ServeHTTP of picket's host running the guest.
func picketServe(b testing.TB) http.HandlerFunc {
	h := provision(b, &Handler{Path: benchGuest}, nil)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		nextHTTP(w, r)
		return nil
	})
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}

// hostGoServe returns http-wasm-host-go's net/http middleware running the
// same guest (a Go reactor: its _initialize must run first).
func hostGoServe(b testing.TB) http.HandlerFunc {
	ctx := context.Background()
	mw, err := nethttp.NewMiddleware(ctx, readFile(b, benchGuest),
		hostgo.ModuleConfig(wazero.NewModuleConfig().WithStartFunctions("_initialize")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mw.Close(ctx) })
	return mw.NewHandler(ctx, nextHTTP).ServeHTTP
}

func runServe(b *testing.B, serve http.HandlerFunc) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		serve(w, benchRequest())
		if w.Code != http.StatusNoContent {
			b.Fatalf("got %d, want 204", w.Code)
		}
	}
}

func runServeParallel(b *testing.B, serve http.HandlerFunc) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			serve(w, benchRequest())
			if w.Code != http.StatusNoContent {
				b.Errorf("got %d, want 204", w.Code)
				return
			}
		}
	})
}

func BenchmarkPolicy(b *testing.B) {
	b.Run("none", func(b *testing.B) { runServe(b, nextHTTP) })
	b.Run("picket", func(b *testing.B) { runServe(b, picketServe(b)) })
	b.Run("hostgo_nethttp", func(b *testing.B) { runServe(b, hostGoServe(b)) })
	b.Run("none_parallel", func(b *testing.B) { runServeParallel(b, nextHTTP) })
	b.Run("picket_parallel", func(b *testing.B) { runServeParallel(b, picketServe(b)) })
	b.Run("hostgo_nethttp_parallel", func(b *testing.B) { runServeParallel(b, hostGoServe(b)) })
}

// BenchmarkRatio runs picket's host and http-wasm-host-go's middleware on
// the same guest, alternating request by request so that both see the same
// machine load, and reports each one's time per request and their ratio
// (picket over host-go: below 1 means picket is faster).
func BenchmarkRatio(b *testing.B) {
	p, h := picketServe(b), hostGoServe(b)
	var tp, th time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		serveOnce(b, p)
		t1 := time.Now()
		serveOnce(b, h)
		tp += t1.Sub(t0)
		th += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "picket-ns/req")
	b.ReportMetric(float64(th.Nanoseconds())/float64(n), "hostgo-ns/req")
	b.ReportMetric(float64(tp)/float64(th), "ratio")
}

func serveOnce(b *testing.B, serve http.HandlerFunc) {
	w := httptest.NewRecorder()
	serve(w, benchRequest())
	if w.Code != http.StatusNoContent {
		b.Fatalf("got %d, want 204", w.Code)
	}
}
