package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	testKey = []byte("k3y-for-tests-only-0123456789abcdef")
	t0      = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

func TestSignParse(t *testing.T) {
	c := Client{IP: netip.MustParseAddr("198.51.100.7"), Source: "cloudflare", VerifiedPull: true}
	v := Sign(testKey, c, "req-1", t0)

	tests := []struct {
		name  string
		key   []byte
		value string
		rid   string
		now   time.Time
		want  error
	}{
		{"valid", testKey, v, "req-1", t0, nil},
		{"valid within age", testKey, v, "req-1", t0.Add(29 * time.Second), nil},
		{"too old", testKey, v, "req-1", t0.Add(31 * time.Second), ErrExpired},
		{"from the future", testKey, v, "req-1", t0.Add(-31 * time.Second), ErrExpired},
		{"other request", testKey, v, "req-2", t0, ErrSignature},
		{"other key", []byte("another-key-of-enough-length-00000"), v, "req-1", t0, ErrSignature},
		{"ip changed", testKey, strings.Replace(v, "198.51.100.7", "198.51.100.8", 1), "req-1", t0, ErrSignature},
		{"source changed", testKey, strings.Replace(v, "cloudflare", "local", 1), "req-1", t0, ErrSignature},
		{"pull changed", testKey, strings.Replace(v, "pull=1", "pull=0", 1), "req-1", t0, ErrSignature},
		{"duplicate field", testKey, v + ";ip=192.0.2.1", "req-1", t0, ErrMalformed},
		{"garbage", testKey, "not a header", "req-1", t0, ErrMalformed},
		{"empty", testKey, "", "req-1", t0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.key, tt.value, tt.rid, tt.now, DefaultMaxAge)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err: got %v, want %v", err, tt.want)
			}
			if err == nil && got != c {
				t.Fatalf("client: got %+v, want %+v", got, c)
			}
		})
	}
}

func TestSignOnion(t *testing.T) {
	c := Client{Source: "onion"}
	got, err := Parse(testKey, Sign(testKey, c, "r", t0), "r", t0, time.Second)
	if err != nil || got != c {
		t.Fatalf("got %+v, %v; want %+v", got, err, c)
	}
}

func TestVerify(t *testing.T) {
	var seen struct {
		client Client
		ok     bool
		header string
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.client, seen.ok = From(r.Context())
		seen.header = strings.Join(r.Header.Values(Header), ",")
	})
	var rejects []error
	h, err := Verify(next, VerifyConfig{
		Key:      testKey,
		Now:      func() time.Time { return t0 },
		OnReject: func(err error) { rejects = append(rejects, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Client{IP: netip.MustParseAddr("2001:db8::7"), Source: "cloudflare"}
	good := Sign(testKey, c, "rid", t0)

	tests := []struct {
		name    string
		values  []string
		rid     string
		wantOK  bool
		rejects int
	}{
		{"from the gateway", []string{good}, "rid", true, 0},
		{"absent", nil, "rid", false, 0},
		{"empty (gateway without key)", []string{""}, "rid", false, 0},
		{"forged", []string{"v1;ip=192.0.2.1;source=cloudflare;pull=1;t=0;sig=AAAA"}, "rid", false, 1},
		{"replayed on another request", []string{good}, "other", false, 1},
		{"two copies", []string{good, good}, "rid", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejects = nil
			seen.ok, seen.header = false, "x"
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header[Header] = tt.values
			r.Header.Set(RequestIDHeader, tt.rid)
			h.ServeHTTP(httptest.NewRecorder(), r)
			if seen.ok != tt.wantOK {
				t.Fatalf("verified: got %v, want %v", seen.ok, tt.wantOK)
			}
			if tt.wantOK && seen.client != c {
				t.Fatalf("client: got %+v, want %+v", seen.client, c)
			}
			if seen.header != "" {
				t.Fatalf("header left for the next handler: %q", seen.header)
			}
			if len(rejects) != tt.rejects {
				t.Fatalf("rejects: got %d, want %d", len(rejects), tt.rejects)
			}
		})
	}
}

func TestVerifyNeedsLongKey(t *testing.T) {
	if _, err := Verify(http.NotFoundHandler(), VerifyConfig{Key: []byte("short")}); err == nil {
		t.Fatal("got no error for a short key, want one")
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Verify(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		VerifyConfig{Key: testKey, Now: func() time.Time { return t0 }})
	v := Sign(testKey, Client{IP: netip.MustParseAddr("198.51.100.7"), Source: "cloudflare"}, "rid", t0)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.Header[Header] = []string{v}
		r.Header.Set(RequestIDHeader, "rid")
		h.ServeHTTP(w, r)
	}
}
