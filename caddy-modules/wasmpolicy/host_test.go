package wasmpolicy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/picket-edge/picket/internal/edge"
)

var testGuestDir = filepath.Join("..", "..", "wasm", "testguests")

func TestSHA256Pin(t *testing.T) {
	path := filepath.Join(testGuestDir, "logger.wasm")
	sum := sha256.Sum256(readFile(t, path))
	good := hex.EncodeToString(sum[:])
	tests := []struct {
		name    string
		pin     string
		wantErr string
	}{
		{name: "no pin", pin: ""},
		{name: "matching pin", pin: good},
		{name: "matching pin upper case", pin: strings.ToUpper(good)},
		{name: "other file's pin", pin: strings.Repeat("ab", 32), wantErr: "refusing to load"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Path: path, SHA256: tc.pin, logger: zap.NewNop()}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := h.Provision(ctx)
			defer func() { _ = h.Cleanup() }()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a loaded guest", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("got a loaded guest, want an error containing %q", tc.wantErr)
			case tc.wantErr != "":
				mustContain(t, err.Error(), tc.wantErr)
			}
		})
	}
}

// withVars gives r the request-variable table Caddy's server provides.
func withVars(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
}

func TestGuestViewOfTheRequest(t *testing.T) {
	tests := []struct {
		name       string
		client     *edge.Client
		tls        bool
		wantAddr   string
		wantSource []string
		wantPull   []string
		wantScheme string
	}{
		{name: "no edge decision: the peer", wantAddr: "192.0.2.10:4711",
			wantScheme: "http"},
		{name: "cloudflare with verified pull: client IP, port 0",
			client: &edge.Client{IP: netip.MustParseAddr("198.51.100.7"),
				Source: edge.SourceCloudflare, VerifiedPull: true},
			tls: true, wantAddr: "198.51.100.7:0", wantSource: []string{"cloudflare"},
			wantPull: []string{"1"}, wantScheme: "https"},
		{name: "ipv6 client", client: &edge.Client{IP: netip.MustParseAddr("2001:db8::1"),
			Source: edge.SourceLocal},
			wantAddr: "[2001:db8::1]:0", wantSource: []string{"local"}, wantPull: []string{"0"},
			wantScheme: "http"},
		{name: "mapped ipv4 unmapped", client: &edge.Client{
			IP: netip.MustParseAddr("::ffff:198.51.100.8"), Source: edge.SourceCloudflare},
			wantAddr: "198.51.100.8:0", wantSource: []string{"cloudflare"}, wantPull: []string{"0"},
			wantScheme: "http"},
		{name: "onion: no address", client: &edge.Client{Source: edge.SourceOnion},
			wantAddr: "", wantSource: []string{"onion"}, wantPull: []string{"0"},
			wantScheme: "http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://api.example.test/me"
			if tc.tls {
				url = "https://api.example.test/me"
			}
			r := withVars(httptest.NewRequest("GET", url, nil))
			r.RemoteAddr = "192.0.2.10:4711"
			// a client claiming the host's headers is not believed
			r.Header.Set("X-Picket-Source", "onion")
			r.Header.Set("X-Picket-Verified-Pull", "1")
			r.Header.Set("X-Picket-Scheme", "https")
			r.Header.Add("Accept", "a")
			r.Header.Add("accept", "b")
			if tc.client != nil {
				edge.Set(r, tc.client)
			}
			c := newCall(r, zap.NewNop(), zap.DebugLevel, 1<<20)

			if got := c.sourceAddr(); got != tc.wantAddr {
				t.Errorf("got source addr %q, want %q", got, tc.wantAddr)
			}
			if got := c.requestHeaderValues("X-PICKET-SOURCE"); !slices.Equal(got, tc.wantSource) {
				t.Errorf("got source %q, want %q", got, tc.wantSource)
			}
			if got := c.requestHeaderValues("x-picket-verified-pull"); !slices.Equal(got, tc.wantPull) {
				t.Errorf("got verified pull %q, want %q", got, tc.wantPull)
			}
			if got := c.requestHeaderValues("x-picket-scheme"); !slices.Equal(got, []string{tc.wantScheme}) {
				t.Errorf("got scheme %q, want %q", got, tc.wantScheme)
			}
			if got := c.requestHeaderValues("Host"); !slices.Equal(got, []string{"api.example.test"}) {
				t.Errorf("got host %q, want api.example.test", got)
			}
			if got := c.requestHeaderValues("aCCept"); !slices.Equal(got, []string{"a", "b"}) {
				t.Errorf("got accept %q, want [a b]", got)
			}
			names := c.requestHeaderNames()
			for _, n := range names {
				if n != strings.ToLower(n) {
					t.Errorf("got header name %q, want lower case", n)
				}
			}
			if n := countOf(names, "x-picket-source"); n > 1 {
				t.Errorf("got x-picket-source %d times in names, want at most once", n)
			}
		})
	}
}

func countOf(names []string, name string) int {
	n := 0
	for _, v := range names {
		if v == name {
			n++
		}
	}
	return n
}

func TestResponsePhase(t *testing.T) {
	tests := []struct {
		name          string
		responsePhase bool
		upstream      int
		wantDiscarded int64
	}{
		{name: "on, origin 200", responsePhase: true, upstream: 200, wantDiscarded: 0},
		{name: "on, origin 500: guest traps after the response", responsePhase: true,
			upstream: 500, wantDiscarded: 1},
		{name: "off: handle_response not called", responsePhase: false, upstream: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := provision(t, &Handler{
				Path:          filepath.Join(testGuestDir, "respphase.wasm"),
				ResponsePhase: tc.responsePhase,
				PoolSize:      1,
			}, nil)
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(tc.upstream)
				_, _ = w.Write([]byte("origin"))
				return nil
			})
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil), next); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.upstream || w.Body.String() != "origin" {
				t.Errorf("got %d %q, want %d \"origin\"", w.Code, w.Body.String(), tc.upstream)
			}
			if got := h.mod.pool.discarded.Load(); got != tc.wantDiscarded {
				t.Errorf("got %d discarded, want %d", got, tc.wantDiscarded)
			}
		})
	}
}

// TestLogsKeepSecrets checks that the guest config, client addresses and
// user agents reach no log line, through loading, normal requests, guest
// logs and failures.
func TestLogsKeepSecrets(t *testing.T) {
	const (
		configMarker = "CONFIG-MARKER-8c1f"
		ipMarker     = "203.0.113.77"
		uaMarker     = "UA-MARKER-4e2a"
	)
	logs := new(logBuffer)
	guests := []string{
		filepath.Join(testGuestDir, "logger.wasm"),
		filepath.Join(hostileDir, "trap.wasm"),
		filepath.Join(hostileDir, "loop.wasm"),
	}
	for _, g := range guests {
		h := provision(t, &Handler{Path: g, Config: configMarker, GuestLogLevel: "error"}, logs)
		for _, hostile := range []bool{false, true} {
			r := withVars(httptest.NewRequest("GET", "/me", nil))
			r.RemoteAddr = ipMarker + ":5555"
			edge.Set(r, &edge.Client{IP: netip.MustParseAddr(ipMarker), Source: edge.SourceCloudflare})
			r.Header.Set("User-Agent", uaMarker)
			if hostile {
				r.Header.Set("X-Hostile", "1")
			}
			serve(h, r)
		}
	}
	out := logs.String()
	mustContain(t, out, "guest says hello")
	mustContain(t, out, `"reason":"trap"`)
	mustContain(t, out, `"reason":"timeout"`)
	for _, m := range []string{configMarker, ipMarker, uaMarker} {
		if strings.Contains(out, m) {
			t.Errorf("logs contain %q:\n%s", m, out)
		}
	}
}

func TestGuestLogCeiling(t *testing.T) {
	tests := []struct {
		name      string
		ceiling   string
		loggerLvl zapcore.Level
		wantLevel string // "" for no line
	}{
		{name: "default ceiling debug, logger at info: dropped", loggerLvl: zap.InfoLevel},
		{name: "default ceiling, logger at debug: lowered to debug",
			loggerLvl: zap.DebugLevel, wantLevel: "debug"},
		{name: "ceiling warn: error lowered to warn", ceiling: "warn",
			loggerLvl: zap.InfoLevel, wantLevel: "warn"},
		{name: "ceiling error: kept", ceiling: "error", loggerLvl: zap.InfoLevel,
			wantLevel: "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := new(logBuffer)
			h := &Handler{Path: filepath.Join(testGuestDir, "logger.wasm"), GuestLogLevel: tc.ceiling}
			h.logger = zap.New(zapcore.NewCore(
				zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logs, tc.loggerLvl))
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := h.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = h.Cleanup() }()
			serve(h, httptest.NewRequest("GET", "/", nil))

			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "guest says hello") {
					line = l
				}
			}
			switch {
			case tc.wantLevel == "" && line != "":
				t.Errorf("got %s, want no guest line", line)
			case tc.wantLevel != "" && !strings.Contains(line, `"level":"`+tc.wantLevel+`"`):
				t.Errorf("got %q, want a guest line at %s", line, tc.wantLevel)
			}
		})
	}
}

func TestPoolBoundedAndReclaimed(t *testing.T) {
	h := provision(t, &Handler{Path: filepath.Join(testGuestDir, "logger.wasm"), PoolSize: 2}, nil)
	p := h.mod.pool
	ctx := context.Background()

	a, err := p.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.get(done); err != errPoolWait {
		t.Fatalf("got %v for a third instance, want errPoolWait", err)
	}

	t0 := time.Unix(1000, 0)
	p.put(a, true, t0)
	p.put(b, true, t0.Add(time.Minute))
	if got := p.idleCount(); got != 2 {
		t.Fatalf("got %d idle, want 2", got)
	}
	p.reclaim(t0.Add(time.Second)) // a is older than the cutoff, b is not
	if got := p.idleCount(); got != 1 {
		t.Fatalf("got %d idle after reclaim, want 1", got)
	}
	if !a.mod.IsClosed() || b.mod.IsClosed() {
		t.Errorf("got closed a=%v b=%v, want a closed and b open", a.mod.IsClosed(), b.mod.IsClosed())
	}
	if in, err := p.get(ctx); err != nil || in != b {
		t.Errorf("got %p, %v, want the idle instance b back", in, err)
	}
}

func TestPoolExhaustedFailsClosed(t *testing.T) {
	logs := new(logBuffer)
	h := provision(t, &Handler{
		Path:          filepath.Join(testGuestDir, "respphase.wasm"),
		ResponsePhase: true, // keeps the instance busy across next
		PoolSize:      1,
	}, logs)
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		close(entered)
		<-release
		return nil
	})
	first := make(chan struct{})
	go func() {
		defer close(first)
		_ = h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), slow)
	}()
	<-entered
	w := serve(h, httptest.NewRequest("GET", "/", nil))
	close(release)
	<-first
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d with the pool exhausted, want 503", w.Code)
	}
	mustContain(t, logs.String(), `"reason":"pool_exhausted"`)
	if w := serve(h, httptest.NewRequest("GET", "/", nil)); w.Code != 200 {
		t.Errorf("got %d once the instance is free, want 200", w.Code)
	}
}

func TestBreaker(t *testing.T) {
	var b breaker
	t0 := time.Unix(5000, 0)
	for i := 1; i < failureThreshold; i++ {
		b.failure(t0, true)
		if !b.allow(t0) {
			t.Fatalf("got backing off after %d failures, want not before %d", i, failureThreshold)
		}
	}
	b.failure(t0, true)
	if b.allow(t0) {
		t.Fatal("got allowed after the threshold, want backing off")
	}
	if !b.allow(t0.Add(backoffBase)) {
		t.Fatal("got still backing off after the first pause")
	}
	b.failure(t0.Add(backoffBase), true)
	if b.allow(t0.Add(backoffBase + backoffBase)) {
		t.Fatal("got allowed after one base pause, want the pause doubled")
	}
	b.success()
	b.failure(t0.Add(time.Hour), true)
	if !b.allow(t0.Add(time.Hour)) {
		t.Fatal("got backing off after success and one failure, want allowed")
	}

	var c breaker
	for range 100 {
		c.failure(t0, false)
	}
	if !c.allow(t0) {
		t.Error("got backing off for failures that do not count, want allowed")
	}
}

func TestBreakerPacesLogs(t *testing.T) {
	var b breaker
	t0 := time.Unix(5000, 0)
	logged := 0
	for i := range 100 {
		if ok, _, _ := b.failure(t0.Add(time.Duration(i)*time.Second), false); ok {
			logged++
		}
	}
	if want := 10; logged != want { // one line per failureLogEvery over 100 s
		t.Errorf("got %d log lines, want %d", logged, want)
	}
	ok, suppressed, _ := b.failure(t0.Add(time.Hour), false)
	if !ok || suppressed == 0 {
		t.Errorf("got logged=%v suppressed=%d, want a line counting the suppressed", ok, suppressed)
	}
}

func TestBackoffAnswersWithoutTheGuest(t *testing.T) {
	logs := new(logBuffer)
	h := provision(t, &Handler{Path: filepath.Join(hostileDir, "trap.wasm")}, logs)
	now := time.Unix(9000, 0)
	h.now = func() time.Time { return now }
	attack := func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Hostile", "1")
		return r
	}
	for range failureThreshold {
		serve(h, attack())
	}
	discarded := h.mod.pool.discarded.Load()
	w := serve(h, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d while backing off, want 503", w.Code)
	}
	if got := h.mod.pool.discarded.Load(); got != discarded {
		t.Errorf("got %d discarded, want %d: the guest must not run while backing off", got, discarded)
	}
	now = now.Add(backoffBase)
	if w := serve(h, httptest.NewRequest("GET", "/", nil)); w.Code != 200 {
		t.Errorf("got %d after the pause, want 200", w.Code)
	}
}

func TestWrongSignatureRefused(t *testing.T) {
	h := &Handler{Path: filepath.Join(testGuestDir, "badsig.wasm"), logger: zap.NewNop()}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := h.Provision(ctx)
	if err == nil {
		_ = h.Cleanup()
		t.Fatal("got a loaded guest, want an error")
	}
	mustContain(t, err.Error(), "handle_request: () -> i64")
}

// TestFailOpenPassesTheOriginalRequest checks that a guest's change to the
// request is dropped when the guest fails afterwards.
func TestFailOpenPassesTheOriginalRequest(t *testing.T) {
	h := provision(t, &Handler{Path: filepath.Join(testGuestDir, "partial.wasm"), FailOpen: true}, nil)
	tests := []struct {
		name    string
		hostile bool
		want    string
	}{
		{name: "guest returns: change applied", want: "1"},
		{name: "guest traps: change dropped", hostile: true, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				seen = r.Header.Get("X-Added")
				return nil
			})
			r := httptest.NewRequest("GET", "/", nil)
			if tc.hostile {
				r.Header.Set("X-Hostile", "1")
			}
			if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
				t.Fatal(err)
			}
			if seen != tc.want {
				t.Errorf("got X-Added %q at the next handler, want %q", seen, tc.want)
			}
		})
	}
}
