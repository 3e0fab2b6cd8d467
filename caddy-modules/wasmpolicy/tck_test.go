package wasmpolicy

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/http-wasm/http-wasm-host-go/tck"
)

const tckTimeout = caddy.Duration(time.Second)

// TestTCKDirect runs the http-wasm conformance kit against the handler
// behind a plain net/http server, over HTTP/1.1 and HTTP/2 (TLS).
func TestTCKDirect(t *testing.T) {
	// conformance, not speed: a generous deadline keeps a loaded machine
	// (or -race) from failing a check
	h := provision(t, &Handler{Path: writeGuest(t, tck.GuestWASM), Timeout: tckTimeout}, nil)
	backend := tck.BackendHandler()
	srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			backend.ServeHTTP(w, r)
			return nil
		})
		if err := h.ServeHTTP(w, r, next); err != nil {
			w.WriteHeader(599)
		}
	})
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"HTTP/1.1", false}, {"HTTP/2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewUnstartedServer(srv)
			if tc.http2 {
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			tck.Run(t, ts.Client(), ts.URL)
		})
	}
}
