//go:build !wasip1

package main

import (
	"net/http/httptest"
	"testing"

	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/wasm/wasmtest"
)

func TestRequireHTTPS(t *testing.T) {
	h := wasmtest.New(t, "requirehttps.wasm", "")
	tests := []struct {
		name         string
		method       string
		url          string
		source       edge.Source
		spoofScheme  string
		want         int
		wantLocation string
		wantHSTS     bool
	}{
		{name: "https passes", method: "GET", url: "https://api.example.test/me",
			want: 200, wantHSTS: true},
		{name: "http GET redirects", method: "GET", url: "http://api.example.test/me?x=1",
			want: 308, wantLocation: "https://api.example.test/me?x=1"},
		{name: "http HEAD redirects", method: "HEAD", url: "http://api.example.test/unions",
			want: 308, wantLocation: "https://api.example.test/unions"},
		{name: "http POST refused", method: "POST", url: "http://api.example.test/ballots",
			want: 403},
		{name: "onion over http passes", method: "POST", url: "http://x.onion/ballots",
			source: edge.SourceOnion, want: 200},
		{name: "client cannot claim https", method: "POST", url: "http://api.example.test/me",
			spoofScheme: "https", want: 403},
		{name: "client cannot claim onion", method: "POST", url: "http://api.example.test/me",
			want: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, nil)
			if tc.spoofScheme != "" {
				r.Header.Set("X-Picket-Scheme", tc.spoofScheme)
			}
			if tc.name == "client cannot claim onion" {
				r.Header.Set("X-Picket-Source", "onion")
			}
			if tc.source != "" {
				r = wasmtest.WithClient(r, edge.Client{Source: tc.source})
			}
			w := h.Do(r)
			if w.Code != tc.want {
				t.Fatalf("got status %d, want %d (body %q)", w.Code, tc.want, w.Body.String())
			}
			if got := w.Header().Get("Location"); got != tc.wantLocation {
				t.Errorf("got location %q, want %q", got, tc.wantLocation)
			}
			if got := w.Header().Get("Strict-Transport-Security") != ""; got != tc.wantHSTS {
				t.Errorf("got HSTS %v, want %v", got, tc.wantHSTS)
			}
		})
	}
}
