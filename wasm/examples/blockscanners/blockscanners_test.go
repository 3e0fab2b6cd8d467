//go:build !wasip1

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/picket-edge/picket/wasm/wasmtest"
)

func TestBlockScanners(t *testing.T) {
	h := wasmtest.New(t, "blockscanners.wasm", "")
	tests := []struct {
		name   string
		header map[string][]string
		want   int
	}{
		{name: "browser", header: map[string][]string{
			"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}}, want: 200},
		{name: "no user agent", want: 200},
		{name: "sqlmap", header: map[string][]string{
			"User-Agent": {"sqlmap/1.8#stable (https://sqlmap.org)"}}, want: 403},
		{name: "nikto mixed case", header: map[string][]string{
			"User-Agent": {"Mozilla/5.00 (NiKtO/2.5.0)"}}, want: 403},
		{name: "masscan", header: map[string][]string{
			"User-Agent": {"masscan/1.3"}}, want: 403},
		{name: "nuclei", header: map[string][]string{
			"User-Agent": {"Nuclei - Open-source project"}}, want: 403},
		{name: "header name lower case", header: map[string][]string{
			"user-agent": {"sqlmap/1.8"}}, want: 403},
		{name: "header name upper case", header: map[string][]string{
			"USER-AGENT": {"zgrab/0.x"}}, want: 403},
		{name: "scanner in a repeated header", header: map[string][]string{
			"User-Agent": {"Mozilla/5.0", "sqlmap/1.8"}}, want: 403},
		{name: "repeated harmless headers", header: map[string][]string{
			"User-Agent": {"Mozilla/5.0", "curl/8.5"}}, want: 200},
		{name: "scanner name in another header", header: map[string][]string{
			"Referer": {"https://example.test/sqlmap"}}, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/unions", nil)
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header[http.CanonicalHeaderKey(k)] = append(r.Header[http.CanonicalHeaderKey(k)], v)
				}
			}
			w := h.Do(r)
			if w.Code != tc.want {
				t.Fatalf("got status %d, want %d (body %q)", w.Code, tc.want, w.Body.String())
			}
			if tc.want == 403 && w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("got content type %q, want JSON", w.Header().Get("Content-Type"))
			}
		})
	}
}
