package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/redistest"
)

// origin stands in for picket's origin API: a net/http ServeMux routing
// like the real one, so that path spellings meet the same router.
func origin(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	mux.HandleFunc("POST /ballots/{id}/vote", ok)
	mux.HandleFunc("POST /unions/{id}/join", ok)
	mux.HandleFunc("POST /auth/webauthn/register", ok)
	mux.HandleFunc("POST /auth/webauthn/verify", ok)
	mux.HandleFunc("POST /auth/webauthn/register/begin", ok)
	mux.HandleFunc("POST /auth/webauthn/verify/finish", ok)
	mux.HandleFunc("GET /{$}", ok)
	mux.HandleFunc("GET /health", ok)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// site returns a site block on port that records the test client, applies
// the limits and proxies to upstream.
func site(port int, limits, upstream string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%d {
	route {
		picket_test_client
		%s
		reverse_proxy %s
	}
}
`, port, limits, upstream)
}

func shippedSnippet(t *testing.T) string {
	p, err := filepath.Abs("shipped.caddy")
	if err != nil {
		t.Fatal(err)
	}
	return "import " + p
}

type twoInstances struct {
	a, b     string // base URLs
	adminURL string
	redis    *redistest.Server
	clock    *fakeClock
	logFile  string
	rdb      *redis.Client
}

// startShipped runs the shipped configuration in two servers of one Caddy,
// each with its own handler instance and Redis connection, sharing one
// redis-server, like two gateway instances.
func startShipped(t *testing.T) *twoInstances {
	t.Helper()
	srv := redistest.Start(t)
	t.Setenv("PICKET_REDIS_ADDR", srv.Addr())
	// generous: a loaded test machine must not turn into a Redis outage.
	t.Setenv("PICKET_REDIS_TIMEOUT", "5s")
	t.Setenv("PICKET_RATE_LIMIT_SECRET", "test-secret-not-for-production")
	clock := newFakeClock(t0)
	useClock(t, clock)

	up := origin(t)
	pa, pb, admin := freePort(t), freePort(t), freePort(t)
	opts := globalOptions(t, admin)
	startCaddy(t, opts+site(pa, shippedSnippet(t), up)+site(pb, shippedSnippet(t), up))

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return &twoInstances{
		a:        fmt.Sprintf("http://127.0.0.1:%d", pa),
		b:        fmt.Sprintf("http://127.0.0.1:%d", pb),
		adminURL: fmt.Sprintf("http://127.0.0.1:%d", admin),
		redis:    srv,
		clock:    clock,
		logFile:  logPath(opts),
		rdb:      rdb,
	}
}

func (ti *twoInstances) either(i int) string {
	if i%2 == 0 {
		return ti.a
	}
	return ti.b
}

func TestShippedConfigTwoInstances(t *testing.T) {
	ti := startShipped(t)
	tests := []struct {
		name     string
		method   string
		path     string
		client   string
		requests int
		block    time.Duration
		zone     string
	}{
		{"auth register", "POST", "/auth/webauthn/register", "198.51.100.1", 5, time.Hour, "auth"},
		{"auth verify", "POST", "/auth/webauthn/verify", "198.51.100.2", 5, time.Hour, "auth"},
		{"auth register begin", "POST", "/auth/webauthn/register/begin", "198.51.100.6", 5, time.Hour, "auth"},
		{"auth verify finish", "POST", "/auth/webauthn/verify/finish", "198.51.100.7", 5, time.Hour, "auth"},
		{"vote", "POST", "/ballots/b1/vote", "198.51.100.3", 10, 15 * time.Minute, "vote"},
		{"join", "POST", "/unions/u1/join", "198.51.100.4", 10, time.Hour, "join"},
		{"global", "GET", "/health", "198.51.100.5", 100, 10 * time.Minute, "global"},
		{"global ipv6", "GET", "/", "2001:db8:5:6::1", 100, 10 * time.Minute, "global"},
		{"onion circuit auth", "POST", "/auth/webauthn/verify", "onion:17", 5, time.Hour, "onion_auth"},
		{"onion shared global", "GET", "/", "onion", 100, 10 * time.Minute, "onion_global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// split between the instances.
			for i := 0; i < tt.requests; i++ {
				if r := send(t, tt.method, ti.either(i)+tt.path, tt.client); r.status != 200 {
					t.Fatalf("request %d: got %d, want 200", i+1, r.status)
				}
			}

			// the next one on either is refused, and both agree.
			ra := send(t, tt.method, ti.a+tt.path, tt.client)
			rb := send(t, tt.method, ti.b+tt.path, tt.client)
			want := strconv.FormatInt(int64(tt.block/time.Second), 10)
			for _, r := range []reply{ra, rb} {
				checkRefusal(t, r, tt.zone, want)
			}

			// still refused a second before the block ends, then admitted.
			ti.clock.Advance(tt.block - time.Second)
			if r := send(t, tt.method, ti.a+tt.path, tt.client); r.status != 429 ||
				r.header.Get("Retry-After") != "1" {
				t.Fatalf("1s before the end: got %d Retry-After %q, want 429 and 1",
					r.status, r.header.Get("Retry-After"))
			}
			ti.clock.Advance(time.Second)
			if r := send(t, tt.method, ti.b+tt.path, tt.client); r.status != 200 {
				t.Fatalf("after the block: got %d, want 200", r.status)
			}
		})
	}
}

func checkRefusal(t *testing.T, r reply, zone, retry string) {
	t.Helper()
	if r.status != 429 {
		t.Fatalf("got %d, want 429", r.status)
	}
	if got := r.header.Get("Retry-After"); got != retry {
		t.Fatalf("got Retry-After %q, want %q", got, retry)
	}
	if got, want := r.header.Get("RateLimit"), fmt.Sprintf("%q;r=0;t=%s", zone, retry); got != want {
		t.Fatalf("got RateLimit %q, want %q", got, want)
	}
	if got := r.header.Get("RateLimit-Policy"); !strings.HasPrefix(got, strconv.Quote(zone)+";q=") {
		t.Fatalf("got RateLimit-Policy %q, want the %s zone's policy", got, zone)
	}
	var body apierror.Body
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error.Code != "rate_limited" {
		t.Fatalf("got body %q, want a rate_limited error", r.body)
	}
	if body.Error.RequestID == "" {
		t.Fatalf("got no request id in %q", r.body)
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	ti := startShipped(t)
	if r := send(t, "POST", ti.a+"/auth/webauthn/verify", "198.51.100.9"); r.status != 200 {
		t.Fatalf("before the outage: got %d, want 200", r.status)
	}

	ti.redis.Stop()
	for i := 0; i < 3; i++ {
		// auth is fail_closed, global is fail_open.
		r := send(t, "POST", ti.either(i)+"/auth/webauthn/verify", "198.51.100.9")
		if r.status != 503 || r.header.Get("Retry-After") == "" ||
			!strings.Contains(r.body, "rate_limit_unavailable") {
			t.Fatalf("fail_closed zone during the outage: got %d %q, want 503", r.status, r.body)
		}
		if r := send(t, "GET", ti.either(i)+"/health", "198.51.100.9"); r.status != 200 {
			t.Fatalf("fail_open zone during the outage: got %d, want 200", r.status)
		}
	}
	metrics := send(t, "GET", ti.adminURL+"/metrics", "").body
	for _, z := range []string{"auth", "global"} {
		line := fmt.Sprintf(`picket_rate_limit_store_errors_total{zone=%q}`, z)
		if !strings.Contains(metrics, line) || strings.Contains(metrics, line+" 0\n") {
			t.Fatalf("got no store errors counted for %s in:\n%s", z, grepLines(metrics, "store_errors"))
		}
	}
	logs := readFile(t, ti.logFile)
	if n := strings.Count(logs, "rate limit store unavailable"); n != 2 {
		t.Fatalf("got %d store-error log lines, want 2 (one per zone, rate-limited)", n)
	}

	// the restarted Redis starts empty (no persistence in the test); the
	// connections rest for a second after the last failure, then recover.
	ti.redis.Start()
	if r := send(t, "POST", ti.a+"/auth/webauthn/verify", "198.51.100.9"); r.status != 503 {
		t.Fatalf("within the pause after a failure: got %d, want 503", r.status)
	}
	ti.clock.Advance(pauseAfterFailure)
	for i := 0; i < 5; i++ {
		if r := send(t, "POST", ti.either(i)+"/auth/webauthn/verify", "198.51.100.9"); r.status != 200 {
			t.Fatalf("after recovery, request %d: got %d, want 200", i, r.status)
		}
	}
	if r := send(t, "POST", ti.a+"/auth/webauthn/verify", "198.51.100.9"); r.status != 429 {
		t.Fatalf("after recovery, the sixth: got %d, want 429", r.status)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNoRawAddressesStored(t *testing.T) {
	ti := startShipped(t)
	markers := []string{"203.0.113.77", "2001:db8:77:1::abcd"}
	forms := []string{"203.0.113.77", "2001:db8:77:1", "2001:db8:77:1::/64", "203.0.113"}
	for _, m := range markers {
		for i := 0; i < 6; i++ {
			send(t, "POST", ti.either(i)+"/auth/webauthn/verify", m)
		}
	}
	ti.redis.Stop() // store-error log lines too
	send(t, "POST", ti.a+"/auth/webauthn/verify", markers[0])
	send(t, "GET", ti.a+"/health", markers[1])
	ti.redis.Start()
	ti.clock.Advance(pauseAfterFailure)
	for _, m := range markers {
		for i := 0; i < 6; i++ {
			send(t, "POST", ti.either(i)+"/auth/webauthn/verify", m)
		}
	}

	var dump strings.Builder
	keys, err := ti.rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("got keys %v, %v; want some", keys, err)
	}
	for _, k := range keys {
		dump.WriteString(k + "\n")
		typ, _ := ti.rdb.Type(context.Background(), k).Result()
		switch typ {
		case "hash":
			v, _ := ti.rdb.HGetAll(context.Background(), k).Result()
			fmt.Fprintln(&dump, v)
		case "zset":
			v, _ := ti.rdb.ZRangeWithScores(context.Background(), k, 0, -1).Result()
			fmt.Fprintln(&dump, v)
		}
	}
	sources := map[string]string{
		"redis":   dump.String(),
		"logs":    readFile(t, ti.logFile),
		"metrics": send(t, "GET", ti.adminURL+"/metrics", "").body,
		"admin":   send(t, "GET", ti.adminURL+adminPrefix, "").body,
	}
	if !strings.Contains(sources["admin"], `"zone":"auth"`) {
		t.Fatalf("got admin list %s, want auth blocks", sources["admin"])
	}
	for name, text := range sources {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s contains the marker %q", name, f)
			}
		}
	}
}

func TestPathSpellingsShareTheVoteBucket(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	up := origin(t)
	port := freePort(t)
	limits := `picket_rate_limit {
			zone vote {
				match {
					path /ballots/*/vote
				}
				period 5m
				requests 3
				block 15m
			}
		}`
	startCaddy(t, globalOptions(t, 0)+site(port, limits, up))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	spellings := []string{
		"//ballots/b1/vote",
		"/ballots//b1/vote",
		"/ballots/b1//vote",
		"/ballots/b1/vote/",
		"/Ballots/B1/Vote",
		"/ballots/b1/%76ote",
		"/ballots/b1/./vote",
		"/ballots/b1/vote;x",
		"/ballots/b1/x/../vote",
		"/ballots/%62%31/vote",
		"/BALLOTS/b1/VOTE",
		"/ballots/b1%2Fx/vote",
		"/ballots/b1%2fx/vote",
		"/ballots/%2e/vote",
		"/ballots/b1/vote%2F",
		"/ballots/b1/vote%00",
	}
	for i, sp := range spellings {
		t.Run(sp, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", 100+i)
			for n := 0; n < 3; n++ {
				if got := rawSend(t, addr, "POST", "/ballots/b1/vote", ip); got != 200 {
					t.Fatalf("canonical vote %d: got %d, want 200", n+1, got)
				}
			}
			got := rawSend(t, addr, "POST", sp, ip)
			if got != 429 && got != 404 {
				t.Fatalf("got %d, want 429 (shared bucket) or 404", got)
			}
			t.Logf("%s -> %d", sp, got)
		})
	}

	// mixed: whatever the order, one client never gets more than 3 votes in.
	for i, sp := range spellings {
		t.Run("mixed "+sp, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", 150+i)
			ok := 0
			for n := 0; n < 4; n++ {
				for _, target := range []string{sp, "/ballots/b1/vote"} {
					if rawSend(t, addr, "POST", target, ip) == 200 {
						ok++
					}
				}
			}
			if ok > 3 {
				t.Fatalf("got %d votes admitted, want at most 3", ok)
			}
		})
	}
}

func TestHeadCountsOnce(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	port := freePort(t)
	limits := `picket_rate_limit {
			zone all {
				period 1m
				requests 3
				block 1m
			}
		}`
	startCaddy(t, globalOptions(t, 0)+site(port, limits, origin(t)))
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	for i, m := range []string{"HEAD", "GET", "HEAD"} {
		if r := send(t, m, url, "198.51.100.20"); r.status != 200 {
			t.Fatalf("request %d (%s): got %d, want 200", i+1, m, r.status)
		}
	}
	if r := send(t, "HEAD", url, "198.51.100.20"); r.status != 429 {
		t.Fatalf("fourth request: got %d, want 429", r.status)
	}
}

func TestHandleErrors(t *testing.T) {
	tests := []struct {
		name     string
		option   string
		errors   string
		wantBody string
	}{
		{"option on", "handle_errors", "handle_errors", "custom 429 all 90"},
		{"option on, no route for 429", "handle_errors", "handle_errors 404", ""},
		{"option off", "", "handle_errors", `"code":"rate_limited"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(t0)
			useClock(t, clock)
			port := freePort(t)
			cf := globalOptions(t, 0) + fmt.Sprintf(`
http://127.0.0.1:%d {
	route {
		picket_test_client
		picket_rate_limit {
			%s
			zone all {
				period 1m
				requests 1
				block 90s
			}
		}
		respond "ok"
	}
	%s {
		respond "custom {http.error.status_code} {picket.rate_limit.zone} {picket.rate_limit.retry_after}"
	}
}
`, port, tt.option, tt.errors)
			startCaddy(t, cf)
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			ip := fmt.Sprintf("198.51.100.%d", 30+i)
			send(t, "GET", url, ip)
			r := send(t, "GET", url, ip)
			if r.status != 429 || !strings.Contains(r.body, tt.wantBody) {
				t.Fatalf("got %d %q, want 429 with %q", r.status, r.body, tt.wantBody)
			}
			if r.header.Get("Retry-After") != "90" || r.header.Get("RateLimit") == "" {
				t.Fatalf("got headers %v, want Retry-After and RateLimit kept", r.header)
			}
		})
	}
}

func TestCountStatusThroughCaddy(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	port := freePort(t)
	cf := globalOptions(t, 0) + fmt.Sprintf(`
http://127.0.0.1:%d {
	route {
		picket_test_client
		picket_rate_limit {
			zone login {
				period 1m
				requests 2
				block 1h
				count_status 401
			}
		}
		respond /good "ok" 200
		respond /bad "no" 401
	}
}
`, port)
	startCaddy(t, cf)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 5; i++ {
		if r := send(t, "GET", base+"/good", "198.51.100.40"); r.status != 200 {
			t.Fatalf("success %d: got %d, want 200", i, r.status)
		}
	}
	send(t, "GET", base+"/bad", "198.51.100.40")
	send(t, "GET", base+"/bad", "198.51.100.40")
	if r := send(t, "GET", base+"/good", "198.51.100.40"); r.status != 429 {
		t.Fatalf("after two 401s: got %d, want 429", r.status)
	}
}

func TestStateSurvivesReload(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	port := freePort(t)
	opts := globalOptions(t, 0)
	conf := func(body string, requests int) string {
		return opts + fmt.Sprintf(`
http://127.0.0.1:%d {
	route {
		picket_test_client
		picket_rate_limit {
			zone all {
				period 1m
				requests %d
				block 1h
			}
		}
		respond %q
	}
}
`, port, requests, body)
	}
	startCaddy(t, conf("one", 1))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	send(t, "GET", url, "198.51.100.50")
	if r := send(t, "GET", url, "198.51.100.50"); r.status != 429 {
		t.Fatalf("got %d, want 429", r.status)
	}

	startCaddy(t, conf("two", 1)) // same zone, other route content
	if r := send(t, "GET", url, "198.51.100.50"); r.status != 429 {
		t.Fatalf("after reload: got %d, want 429 (block kept)", r.status)
	}
	startCaddy(t, conf("three", 2)) // changed rule: fresh state
	if r := send(t, "GET", url, "198.51.100.50"); r.status != 200 || r.body != "three" {
		t.Fatalf("after a rule change: got %d %q, want 200", r.status, r.body)
	}
}

func TestAdminAPI(t *testing.T) {
	ti := startShipped(t)
	clients := []string{"198.51.100.61", "198.51.100.62", "198.51.100.63"}
	for _, c := range clients {
		for i := 0; i < 6; i++ {
			send(t, "POST", ti.a+"/auth/webauthn/verify", c)
		}
	}
	var list struct{ Blocks []blockEntry }
	body := send(t, "GET", ti.adminURL+adminPrefix, "").body
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Blocks) != 3 {
		t.Fatalf("got %s, want three blocks", body)
	}
	b := list.Blocks[0]
	if b.Zone != "auth" || len(b.Key) != 32 || !b.Expires.Equal(t0.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("got %+v, want an auth block with a 32-digit key ending at %v", b, t0.Add(time.Hour))
	}

	del := func(path string) reply {
		req, _ := http.NewRequest(http.MethodDelete, ti.adminURL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return reply{status: resp.StatusCode}
	}
	if r := del(adminPrefix + "/auth/" + b.Key); r.status != 200 {
		t.Fatalf("unblock one: got %d, want 200", r.status)
	}
	if r := del(adminPrefix + "/auth/" + b.Key); r.status != 404 {
		t.Fatalf("unblock it again: got %d, want 404", r.status)
	}
	blocked := 0
	for _, c := range clients {
		if send(t, "POST", ti.b+"/auth/webauthn/verify", c).status == 429 {
			blocked++
		}
	}
	if blocked != 2 {
		t.Fatalf("after one unblock: got %d clients blocked, want 2", blocked)
	}
	if r := del(adminPrefix); r.status != 200 {
		t.Fatalf("unblock all: got %d, want 200", r.status)
	}
	for _, c := range clients {
		if r := send(t, "POST", ti.a+"/auth/webauthn/verify", c); r.status != 200 {
			t.Fatalf("after unblock all: got %d, want 200", r.status)
		}
	}
}

func TestOnionAndClearnetSeparate(t *testing.T) {
	ti := startShipped(t)

	// the shared onion bucket runs full: clearnet clients do not notice.
	for i := 0; i < 101; i++ {
		send(t, "GET", ti.either(i)+"/health", "onion")
	}
	if r := send(t, "GET", ti.a+"/health", "onion"); r.status != 429 {
		t.Fatalf("shared onion bucket: got %d, want 429", r.status)
	}
	if r := send(t, "GET", ti.a+"/health", "198.51.100.70"); r.status != 200 {
		t.Fatalf("clearnet during onion block: got %d, want 200", r.status)
	}

	// a clearnet client blocked on auth does not block onion circuits, and
	// one circuit's block does not touch another circuit.
	for i := 0; i < 6; i++ {
		send(t, "POST", ti.a+"/auth/webauthn/verify", "198.51.100.71")
		send(t, "POST", ti.b+"/auth/webauthn/verify", "onion:1")
	}
	tests := []struct {
		name   string
		client string
		want   int
	}{
		{"blocked clearnet client", "198.51.100.71", 429},
		{"blocked circuit", "onion:1", 429},
		{"other circuit", "onion:2", 200},
		{"other clearnet client", "198.51.100.72", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := send(t, "POST", ti.a+"/auth/webauthn/verify", tt.client); r.status != tt.want {
				t.Fatalf("got %d, want %d", r.status, tt.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	port, admin := freePort(t), freePort(t)
	limits := `picket_rate_limit {
			zone all {
				period 1m
				requests 2
				block 1m
			}
		}`
	startCaddy(t, globalOptions(t, admin)+site(port, limits, origin(t)))
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	for _, c := range []string{"198.51.100.81", "198.51.100.82", "198.51.100.83"} {
		for i := 0; i < 3; i++ {
			send(t, "GET", url, c)
		}
	}
	send(t, "GET", url, "198.51.100.81")

	metrics := send(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", admin), "").body
	for _, want := range []string{
		`picket_rate_limit_decisions_total{result="allowed",zone="all"} 6`,
		`picket_rate_limit_decisions_total{result="limited",zone="all"} 3`,
		`picket_rate_limit_decisions_total{result="blocked",zone="all"} 1`,
		`picket_rate_limit_store_errors_total{zone="all"} 0`,
		`picket_rate_limit_tracked_keys{zone="all"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("got no %q in:\n%s", want, grepLines(metrics, "picket_"))
		}
	}
}

func TestClientKeyFallback(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		want   string
	}{
		{"ipv4", "192.0.2.1:4000", "192.0.2.1"},
		{"mapped ipv4", "[::ffff:192.0.2.1]:4000", "192.0.2.1"},
		{"ipv6 per /64", "[2001:db8:1:2:3:4:5:6]:4000", "2001:db8:1:2::/64"},
		{"no port", "192.0.2.9", "192.0.2.9"},
		{"garbage", "nowhere", ""},
	}
	z := &zone{cfg: &ZoneConfig{Name: "z"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if got := z.clientKey(r); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAllowedResponsesCarryHeaders(t *testing.T) {
	clock := newFakeClock(t0)
	useClock(t, clock)
	port := freePort(t)
	limits := `picket_rate_limit {
			zone all {
				period 1m
				requests 5
				block 1m
			}
		}`
	startCaddy(t, globalOptions(t, 0)+site(port, limits, origin(t)))
	r := send(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/health", port), "198.51.100.90")
	// t0 is 0.25s into its minute, so the window ends in 59.75s: t=60.
	if got, want := r.header.Get("RateLimit"), `"all";r=4;t=60`; got != want {
		t.Fatalf("got RateLimit %q, want %q", got, want)
	}
	if got, want := r.header.Get("RateLimit-Policy"), `"all";q=5;w=60`; got != want {
		t.Fatalf("got RateLimit-Policy %q, want %q", got, want)
	}
}

func TestRouterView(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		changed bool
	}{
		{"plain", "/ballots/b1/vote", "/ballots/b1/vote", false},
		{"escaped letter", "/ballots/b1/%76ote", "/ballots/b1/vote", false},
		{"escaped slash", "/ballots/b1%2Fx/vote", "/ballots/b1%2Fx/vote", true},
		{"escaped dot", "/ballots/%2e/vote", "/ballots/%2E/vote", true},
		{"escaped dot dot", "/ballots/%2e%2E/vote", "/ballots/%2E%2E/vote", true},
		{"literal dot", "/ballots/./vote", "/ballots/./vote", false},
		{"bad escape", "/ballots/%zz/vote", "/ballots/%zz/vote", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := routerView(tt.in)
			if got != tt.want || changed != tt.changed {
				t.Fatalf("got %q %v, want %q %v", got, changed, tt.want, tt.changed)
			}
		})
	}
}
