package wasmpolicy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// hostileDir holds the committed hostile guests (built from .wat).
var hostileDir = filepath.Join("..", "..", "wasm", "hostile")

// normalRequests is how many requests each hostile test sends after the
// attack; all must be served normally.
const normalRequests = 10000

func TestHostileGuests(t *testing.T) {
	tests := []struct {
		name       string
		guest      string
		wantReason string
	}{
		{name: "infinite loop", guest: "loop", wantReason: "timeout"},
		{name: "memory bomb", guest: "membomb", wantReason: "trap"},
		{name: "trap", guest: "trap", wantReason: "trap"},
		{name: "out of bounds read", guest: "oob_read", wantReason: "trap"},
		{name: "out of bounds write", guest: "oob_write", wantReason: "trap"},
		{name: "out of bounds host buffers", guest: "oob_host", wantReason: "trap"},
		{name: "10,000 headers", guest: "headers", wantReason: "trap"},
		{name: "response phase call in request phase", guest: "phase", wantReason: "trap"},
	}
	for _, tc := range tests {
		for _, failOpen := range []bool{false, true} {
			name := tc.name + "/fail_closed"
			if failOpen {
				name = tc.name + "/fail_open"
			}
			t.Run(name, func(t *testing.T) {
				logs := new(logBuffer)
				h := provision(t, &Handler{
					Path:             filepath.Join(hostileDir, tc.guest+".wasm"),
					FailOpen:         failOpen,
					MemoryLimitPages: 64,
					PoolSize:         2,
					// above the default so that a loaded machine does not
					// time out the normal requests; the loop still ends here
					Timeout: caddy.Duration(250 * time.Millisecond),
				}, logs)
				goroutines := runtime.NumGoroutine()

				attack := httptest.NewRequest("GET", "/", nil)
				attack.Header.Set("X-Hostile", "1")
				w := serve(h, attack)
				checkFailure(t, w, failOpen)
				mustContain(t, logs.String(), `"reason":"`+tc.wantReason+`"`)
				if got := h.mod.pool.discarded.Load(); got != 1 {
					t.Errorf("got %d discarded instances, want 1", got)
				}

				for i := range normalRequests {
					w := serve(h, httptest.NewRequest("GET", "/", nil))
					if w.Code != http.StatusOK || w.Body.String() != "next" {
						t.Fatalf("request %d after the attack: got %d %q, want 200 \"next\"",
							i, w.Code, w.Body.String())
					}
				}
				if got := h.mod.pool.discarded.Load(); got != 1 {
					t.Errorf("got %d discarded instances after normal traffic, want 1", got)
				}
				if got := h.mod.pool.idleCount(); got > h.PoolSize {
					t.Errorf("got %d idle instances, want at most %d", got, h.PoolSize)
				}
				if got := settledGoroutines(goroutines + 2); got > goroutines+2 {
					t.Errorf("got %d goroutines, want at most %d", got, goroutines+2)
				}
			})
		}
	}
}

// settledGoroutines waits (boundedly) for the goroutines that watch
// finished guest calls' contexts to exit, and returns the count.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// checkFailure checks the answer to a request the guest failed on.
func checkFailure(t *testing.T, w *httptest.ResponseRecorder, failOpen bool) {
	t.Helper()
	if failOpen {
		if w.Code != http.StatusOK || w.Body.String() != "next" {
			t.Errorf("got %d %q, want 200 \"next\" (fail_open)", w.Code, w.Body.String())
		}
		return
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("got status %d, want 503", w.Code)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if body.Error.Code != "policy_unavailable" {
		t.Errorf("got code %q, want policy_unavailable", body.Error.Code)
	}
	for _, leak := range []string{"wasm", "trap", "unreachable", "memory", "guest", "deadline"} {
		if strings.Contains(strings.ToLower(w.Body.String()), leak) {
			t.Errorf("body %q carries internal text %q", w.Body.String(), leak)
		}
	}
}

func TestHostileGuestsRefusedAtLoad(t *testing.T) {
	tests := []struct {
		name  string
		guest string
		want  string
	}{
		{name: "initial memory over the cap", guest: "membomb_static", want: "compiling guest"},
		{name: "start function never returns", guest: "startloop", want: "instantiating guest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{
				Path:             filepath.Join(hostileDir, tc.guest+".wasm"),
				MemoryLimitPages: 64,
				InitTimeout:      caddy.Duration(200 * time.Millisecond),
				logger:           newLogger(new(logBuffer)),
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			err := h.Provision(ctx)
			if err == nil {
				_ = h.Cleanup()
				t.Fatal("got a loaded guest, want an error")
			}
			mustContain(t, err.Error(), tc.want)
			if err := h.Cleanup(); err != nil {
				t.Errorf("cleanup after failed provision: %v", err)
			}
		})
	}
}
