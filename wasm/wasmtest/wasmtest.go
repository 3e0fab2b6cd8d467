//go:build !wasip1

// Package wasmtest runs a policy in picket's WebAssembly host from a Go
// test, with no Caddy server: requests go straight to the handler and a
// fixed "next" handler answers 200 with the body "next".
//
//	h := wasmtest.New(t, "policy.wasm", "")
//	w := h.Do(httptest.NewRequest("GET", "/me", nil))
package wasmtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/picket-edge/picket/caddy-modules/wasmpolicy"
	"github.com/picket-edge/picket/internal/edge"
)

// NextBody is what the next handler answers when a policy passes a request.
const NextBody = "next"

// Host is a provisioned picket_wasm handler.
type Host struct {
	h *wasmpolicy.Handler
}

// New loads the guest at path with config, as the Caddyfile would.
func New(t testing.TB, path, config string) *Host {
	t.Helper()
	h := &wasmpolicy.Handler{Path: path, Config: config}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("validating: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return &Host{h: h}
}

var next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, _ = w.Write([]byte(NextBody))
	return nil
})

// Do runs r through the policy.
func (h *Host) Do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	if err := h.h.ServeHTTP(w, r, next); err != nil {
		w.Code = http.StatusInternalServerError
	}
	return w
}

// WithClient returns r carrying the edge decision c, as picket's lock-down
// and onion modules record it (source class, client IP, verified pull).
func WithClient(r *http.Request, c edge.Client) *http.Request {
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	edge.Set(r, &c)
	return r
}
