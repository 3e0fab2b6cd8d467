//go:build !wasip1

package main

import (
	"net/http/httptest"
	"testing"

	"github.com/picket-edge/picket/wasm/wasmtest"
)

func TestAPIPaths(t *testing.T) {
	h := wasmtest.New(t, "apipaths.wasm", "")
	tests := []struct {
		name string
		uri  string
		want int
	}{
		{name: "auth", uri: "/auth/passkey/begin", want: 200},
		{name: "unions", uri: "/unions", want: 200},
		{name: "ballots with query", uri: "/ballots/42?view=results", want: 200},
		{name: "me", uri: "/me", want: 200},
		{name: "me below", uri: "/me/votes", want: 200},
		{name: "health", uri: "/health", want: 200},
		{name: "privacy", uri: "/privacy", want: 200},
		{name: "public read view", uri: "/public/unions/7", want: 200},
		{name: "root", uri: "/", want: 404},
		{name: "prefix without boundary", uri: "/meow", want: 404},
		{name: "wordpress scan", uri: "/wp-admin/install.php", want: 404},
		{name: "dotenv", uri: "/.env", want: 404},
		{name: "case matters", uri: "/ME", want: 404},
		{name: "dot dot", uri: "/me/../admin", want: 400},
		{name: "dot", uri: "/me/./x", want: 400},
		{name: "double slash", uri: "/me//x", want: 400},
		{name: "encoded dot", uri: "/me/%2e%2e/admin", want: 400},
		{name: "encoded slash", uri: "/me%2Fadmin", want: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := h.Do(httptest.NewRequest("GET", tc.uri, nil))
			if w.Code != tc.want {
				t.Fatalf("got status %d, want %d (body %q)", w.Code, tc.want, w.Body.String())
			}
		})
	}
}

func TestAPIPathsConfig(t *testing.T) {
	h := wasmtest.New(t, "apipaths.wasm", "/only\n/this")
	tests := []struct {
		name string
		uri  string
		want int
	}{
		{name: "configured", uri: "/only/here", want: 200},
		{name: "second configured", uri: "/this", want: 200},
		{name: "default no longer listed", uri: "/me", want: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := h.Do(httptest.NewRequest("GET", tc.uri, nil)); w.Code != tc.want {
				t.Fatalf("got status %d, want %d", w.Code, tc.want)
			}
		})
	}
}
