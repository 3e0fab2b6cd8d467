package lockdown

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/picket-edge/picket/caddy-modules/lockdown/cfapistandin"
)

var (
	// larger than half the compiled-in snapshot, so the first fetch that
	// replaces the snapshot is not a shrink.
	goodV4 = []string{
		"192.0.2.0/26", "192.0.2.64/26", "192.0.2.128/26", "192.0.2.192/26",
		"198.51.100.0/26", "198.51.100.64/26", "198.51.100.128/26", "198.51.100.192/26",
		"203.0.113.0/26", "203.0.113.64/26", "203.0.113.128/26", "203.0.113.192/26",
	}
	goodV6 = []string{"2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48", "2001:db8:4::/48"}
)

// newTestSource returns a range source fed by a stand-in of Cloudflare's
// API on loopback, with file storage in a temporary directory.
func newTestSource(t *testing.T, api *cfapistandin.StandIn, dir string, now func() time.Time) (*rangeSource, *observer.ObservedLogs) {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	f, err := newAPIFetcher(srv.URL + "/client/v4")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	s := &rangeSource{
		fetch:    f.fetch,
		storage:  &certmagic.FileStorage{Path: dir},
		logger:   zap.New(core),
		interval: time.Hour,
		timeout:  10 * time.Second,
		now:      now,
	}
	s.loadInitial(context.Background())
	return s, logs
}

func TestRangeRefreshRejectsBadAnswers(t *testing.T) {
	api := cfapistandin.New()
	api.SetRanges(goodV4, goodV6)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, logs := newTestSource(t, api, t.TempDir(), func() time.Time { return clock })

	if got := s.refresh(context.Background()); got != resultOK {
		t.Fatalf("first refresh: got %q, want %q", got, resultOK)
	}
	good := s.cur.Load()
	if got, want := len(good.set), 16; got != want {
		t.Fatalf("ranges in force: got %d, want %d", got, want)
	}

	tests := []struct {
		name   string
		set    func()
		result string
	}{
		{"status 500", func() { api.SetRaw(http.StatusInternalServerError, []byte(`{}`)) }, resultFetchFailed},
		{"invalid json", func() { api.SetRaw(http.StatusOK, []byte(`{"result": [nonsense`)) }, resultInvalid},
		{"api failure", func() { api.SetRaw(http.StatusOK, []byte(`{"success":false,"result":{}}`)) }, resultFetchFailed},
		{"empty list", func() { api.SetRanges(nil, nil) }, resultEmpty},
		{"no ipv6", func() { api.SetRanges(goodV4, nil) }, resultNoIPv6},
		{"no ipv4", func() { api.SetRanges(nil, goodV6) }, resultNoIPv4},
		{"half the size", func() { api.SetRanges(goodV4[:6], goodV6[:2]) }, resultShrunk},
		{"not a cidr", func() { api.SetRanges([]string{"192.0.2.0/33"}, goodV6) }, resultInvalid},
		{"whole internet", func() { api.SetRanges([]string{"0.0.0.0/0"}, goodV6) }, resultInvalid},
		{"a /11", func() { api.SetRanges(append([]string{"100.0.0.0/11"}, goodV4...), goodV6) }, resultInvalid},
		{"an ipv6 /28", func() { api.SetRanges(goodV4, append([]string{"2a06:9000::/28"}, goodV6...)) }, resultInvalid},
		{"family mix-up", func() { api.SetRanges(goodV6, goodV4) }, resultInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(rangeRefreshTotal.WithLabelValues(tt.result))
			tt.set()
			if got := s.refresh(context.Background()); got != tt.result {
				t.Fatalf("refresh result: got %q, want %q", got, tt.result)
			}
			if got := s.cur.Load(); got != good {
				t.Fatalf("list in force changed after a rejected fetch")
			}
			after := testutil.ToFloat64(rangeRefreshTotal.WithLabelValues(tt.result))
			if after-before != 1 {
				t.Fatalf("metric %s: got +%v, want +1", tt.result, after-before)
			}
		})
	}

	if got := logs.FilterMessage("cloudflare range refresh rejected; previous list stays in force").Len(); got != len(tests) {
		t.Fatalf("warnings: got %d, want %d", got, len(tests))
	}
	if got := api.Hits(); got != len(tests)+1 {
		t.Fatalf("stand-in hits: got %d, want %d", got, len(tests)+1)
	}
}

func TestRangeRefreshAcceptsGrowthAndPersists(t *testing.T) {
	api := cfapistandin.New()
	api.SetRanges(goodV4, goodV6)
	dir := t.TempDir()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, _ := newTestSource(t, api, dir, func() time.Time { return clock })

	// the snapshot is in force before the first fetch, and fetching is due.
	if !s.cur.Load().set.contains(netip.MustParseAddr("2606:4700::1")) {
		t.Fatal("snapshot not in force before the first fetch")
	}
	if got := s.firstDelay(); got != 0 {
		t.Fatalf("first delay with snapshot: got %v, want 0", got)
	}
	if got := s.refresh(context.Background()); got != resultOK {
		t.Fatalf("refresh: got %q, want ok", got)
	}

	// a smaller list that keeps more than half is accepted.
	api.SetRanges(goodV4[:5], goodV6)
	if got := s.refresh(context.Background()); got != resultOK {
		t.Fatalf("refresh of a list 9/16 the size: got %q, want ok", got)
	}

	// a new source on the same storage starts from the stored list and
	// waits out the rest of the interval.
	later := clock.Add(20 * time.Minute)
	s2, _ := newTestSource(t, cfapistandin.New(), dir, func() time.Time { return later })
	st := s2.cur.Load()
	if got, want := len(st.set), 9; got != want {
		t.Fatalf("stored ranges: got %d, want %d", got, want)
	}
	if st.set.contains(netip.MustParseAddr("2606:4700::1")) {
		t.Fatal("snapshot in force although a stored list exists")
	}
	if got, want := s2.firstDelay(), 40*time.Minute; got != want {
		t.Fatalf("first delay: got %v, want %v", got, want)
	}
}

func TestRangeSourceLoopStopsOnDestruct(t *testing.T) {
	api := cfapistandin.New()
	api.SetRanges(goodV4, goodV6)
	s, _ := newTestSource(t, api, t.TempDir(), time.Now)
	s.start()
	s.start() // idempotent
	if err := s.Destruct(); err != nil {
		t.Fatal(err)
	}
}

func TestPrefixMatching(t *testing.T) {
	set, err := parsePrefixes([]string{"127.0.0.2", "127.0.0.3/32", "::1/128", "2001:db8::/32", "::ffff:192.0.2.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	ps := prefixSet(set)
	tests := []struct {
		name string
		peer net.Addr
		want bool
	}{
		{"ipv4 in list", &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, true},
		{"ipv4 outside", &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, false},
		{"ipv6 in list", &net.TCPAddr{IP: net.ParseIP("::1")}, true},
		{"ipv6 range", &net.TCPAddr{IP: net.ParseIP("2001:db8::7")}, true},
		{"mapped ipv4 in list", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.3").To16()}, true},
		{"mapped ipv4 outside", &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.9").To16()}, false},
		{"mapped range given as ipv6", &net.TCPAddr{IP: net.ParseIP("192.0.2.77")}, true},
		{"unix socket", &net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ps.contains(peerAddr(tt.peer)); got != tt.want {
				t.Fatalf("contains(%v): got %v, want %v", tt.peer, got, tt.want)
			}
		})
	}

	// a mapped address is never matched by an IPv6 range that spans the
	// mapped block textually: it is judged as the IPv4 address it is.
	wide := prefixSet{netip.MustParsePrefix("::/16")}
	if wide.contains(netip.MustParseAddr("::ffff:127.0.0.9")) {
		t.Fatal("::ffff:127.0.0.9 matched by ::/16")
	}

	// trusted_proxies gets each IPv4 range in mapped form too.
	st := newRangeState(set, time.Time{})
	found := false
	for _, p := range st.withMapped {
		if p == netip.MustParsePrefix("::ffff:127.0.0.2/128") {
			found = true
		}
	}
	if !found {
		t.Fatalf("mapped form of 127.0.0.2 missing from %v", st.withMapped)
	}
}

// TestCloudflareAppInCaddy runs the app in Caddy against the API stand-in:
// the first fetch replaces the snapshot and is stored, and a config reload
// keeps the list and its refresh loop without fetching again.
func TestCloudflareAppInCaddy(t *testing.T) {
	if testing.Short() {
		t.Skip("in-process Caddy; skipped under -short")
	}
	api := cfapistandin.New()
	api.SetRanges(goodV4, goodV6)
	srv := httptest.NewServer(api)
	defer srv.Close()
	root := t.TempDir()
	cfg := func(interval string) []byte {
		return []byte(`{"admin":{"disabled":true},
			"storage":{"module":"file_system","root":"` + root + `"},
			"apps":{"picket_cloudflare":{"api_base_url":"` + srv.URL + `/client/v4",
				"refresh_interval":"` + interval + `"}}}`)
	}
	if err := caddy.Load(cfg("1h"), true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = caddy.Stop() }()

	app := func() *Cloudflare {
		ctx := caddy.ActiveContext()
		a, err := ctx.App(AppName)
		if err != nil {
			t.Fatal(err)
		}
		return a.(*Cloudflare)
	}
	doc := netip.MustParseAddr("192.0.2.1")
	stored := filepath.Join(root, "picket", "lockdown", "cloudflare_ranges.json")
	done := func() bool {
		_, err := os.Stat(stored)
		return app().Contains(doc) && err == nil
	}
	// the first fetch runs in the background right after start; poll for
	// its result.
	for deadline := time.Now().Add(10 * time.Second); !done(); {
		if time.Now().After(deadline) {
			t.Fatal("fetched list never came into force and storage")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := caddy.Load(cfg("1h"), true); err != nil {
		t.Fatal(err)
	}
	if !app().Contains(doc) {
		t.Fatal("list lost across a reload")
	}
	if got := api.Hits(); got != 1 {
		t.Fatalf("fetches: got %d, want 1", got)
	}
}
