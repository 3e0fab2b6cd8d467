package api_test

import (
	"net/http"
	"testing"

	"github.com/picket-edge/picket/internal/pgtest"
)

// BenchmarkRequests measures whole requests over loopback against real
// PostgreSQL: a static page, a membership check (keyed hash plus lookup)
// and a full passkey login (two round trips, signature check, session).
func BenchmarkRequests(b *testing.B) {
	h := newHarness(b, map[string]*pgtest.Cluster{"": pgtest.Start(b)})
	auth := newAuthenticator()
	token := h.signUp(b, auth, "Bench")
	h.call(b, "POST", "/unions", token, map[string]string{"slug": "bench", "name": "Bench"}, nil)

	b.Run("GET /privacy json", func(b *testing.B) {
		for b.Loop() {
			if r := h.do(b, "GET", "/privacy", map[string]string{"Accept": "application/json"}, nil); r.status != 200 {
				b.Fatal(r.status)
			}
		}
	})
	b.Run("GET /unions/{slug}/membership", func(b *testing.B) {
		for b.Loop() {
			if r := h.call(b, "GET", "/unions/bench/membership", token, nil, nil); r.status != http.StatusOK {
				b.Fatal(r.status)
			}
		}
	})
	b.Run("passkey login", func(b *testing.B) {
		for b.Loop() {
			if r := h.logIn(b, auth, nil); r.status != http.StatusOK {
				b.Fatal(r.status)
			}
		}
	})
}
