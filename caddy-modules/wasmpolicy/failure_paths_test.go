package wasmpolicy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestResponsePhaseAbortKeepsThePool: a handler after the guest that panics
// (reverse_proxy does, with http.ErrAbortHandler, when the client goes away
// mid-response) must not leak the instance's pool slot.
func TestResponsePhaseAbortKeepsThePool(t *testing.T) {
	h := provision(t, &Handler{
		Path:          filepath.Join(testGuestDir, "respphase.wasm"),
		ResponsePhase: true,
		PoolSize:      2,
	}, nil)
	abort := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		panic(http.ErrAbortHandler)
	})
	for range 3 {
		func() {
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Fatalf("got panic %v, want http.ErrAbortHandler passed on", v)
				}
			}()
			_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), abort)
		}()
	}
	if w := serve(h, httptest.NewRequest("GET", "/", nil)); w.Code != http.StatusOK {
		t.Fatalf("after 3 aborted responses: got %d, want 200", w.Code)
	}
}

// TestFailOpenKeepsTheBody: under fail_open, a guest that read part of the
// body and then trapped passes on the whole body the client sent.
func TestFailOpenKeepsTheBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		maxBody int64
	}{
		{name: "under the limit", body: "hello world"},
		{name: "over the limit", body: strings.Repeat("x", 100), maxBody: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := provision(t, &Handler{
				Path:         filepath.Join(testGuestDir, "readtrap.wasm"),
				FailOpen:     true,
				MaxBodyBytes: tt.maxBody,
			}, nil)
			var seen string
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				b, _ := io.ReadAll(r.Body)
				seen = string(b)
				return nil
			})
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if seen != tt.body {
				t.Fatalf("got body %q at the next handler, want %q", seen, tt.body)
			}
		})
	}
}
