package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/internal/redistest"
)

// shippedRules are the limits of the default configuration.
var shippedRules = []struct {
	name string
	pol  policy
}{
	{"auth", policy{time.Minute, 5, time.Hour}},
	{"vote", policy{5 * time.Minute, 10, 15 * time.Minute}},
	{"join", policy{time.Hour, 10, time.Hour}},
	{"global", policy{time.Minute, 100, 10 * time.Minute}},
}

type storeKind struct {
	name string
	make func(t *testing.T, zone string, pol policy) store
}

// storeKinds returns the memory store and a Redis store on a fresh
// redis-server for the test.
func storeKinds(t *testing.T) []storeKind {
	srv := redistest.Start(t)
	rc := &RedisConfig{Address: srv.Addr(), Timeout: caddy.Duration(5 * time.Second)}
	return []storeKind{
		{"memory", func(_ *testing.T, _ string, pol policy) store {
			return newMemStore(pol, 0)
		}},
		{"redis", func(t *testing.T, zone string, pol policy) store {
			rdb := rc.client(nil)
			t.Cleanup(func() { _ = rdb.Close() })
			return newRedisStore(rdb, "", zone, pol, false)
		}},
	}
}

// testZone builds a provisioned zone around a store without Caddy.
func testZone(name string, pol policy, s store) *zone {
	return &zone{
		cfg:   &ZoneConfig{Name: name},
		pol:   pol,
		st:    &zoneState{name: name, keyer: newKeyer([]byte("test secret"))},
		store: s,
	}
}

func mustDecide(t *testing.T, z *zone, key string, now time.Time) decision {
	t.Helper()
	d, err := z.store.decide(context.Background(), z.lookup(key, now), now, len(z.count) == 0)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return d
}

func TestShippedRules(t *testing.T) {
	for _, sk := range storeKinds(t) {
		for _, r := range shippedRules {
			t.Run(sk.name+"/"+r.name, func(t *testing.T) {
				z := testZone(r.name, r.pol, sk.make(t, r.name, r.pol))
				// all within one fixed window, so the estimate is exact.
				step := r.pol.period / time.Duration(2*r.pol.requests)
				now := t0
				for i := int64(1); i <= r.pol.requests; i++ {
					d := mustDecide(t, z, "198.51.100.7", now)
					if !d.allowed || d.remaining != r.pol.requests-i {
						t.Fatalf("request %d: got allowed=%v remaining=%d, want true %d",
							i, d.allowed, d.remaining, r.pol.requests-i)
					}
					now = now.Add(step)
				}

				d := mustDecide(t, z, "198.51.100.7", now)
				if d.allowed || !d.started || d.retry != r.pol.block {
					t.Fatalf("request N+1: got %+v, want refused, started, retry %v", d, r.pol.block)
				}
				if other := mustDecide(t, z, "198.51.100.8", now); !other.allowed {
					t.Fatalf("another client: got refused, want allowed")
				}

				half := now.Add(r.pol.block / 2)
				d = mustDecide(t, z, "198.51.100.7", half)
				if d.allowed || d.started || d.retry != r.pol.block/2 {
					t.Fatalf("during block: got %+v, want refused with retry %v", d, r.pol.block/2)
				}

				end := now.Add(r.pol.block)
				if d := mustDecide(t, z, "198.51.100.7", end.Add(-time.Millisecond)); d.allowed {
					t.Fatalf("1ms before the end: got allowed, want refused")
				}
				if d := mustDecide(t, z, "198.51.100.7", end); !d.allowed {
					t.Fatalf("at the end of the block: got refused (%+v), want allowed", d)
				}
			})
		}
	}
}

func TestRetryAfterExact(t *testing.T) {
	pol := policy{time.Minute, 2, 90 * time.Second}
	for _, sk := range storeKinds(t) {
		offsets := []time.Duration{
			0, time.Millisecond, 499 * time.Millisecond, 999 * time.Millisecond,
			17*time.Second + 3*time.Millisecond,
		}
		for _, offset := range offsets {
			name := fmt.Sprintf("%s/%v", sk.name, offset)
			t.Run(name, func(t *testing.T) {
				zname := fmt.Sprintf("exact%d", offset.Milliseconds())
				z := testZone(zname, pol, sk.make(t, zname, pol))
				now := t0.Add(123 * time.Millisecond)
				mustDecide(t, z, "k", now)
				mustDecide(t, z, "k", now)
				if d := mustDecide(t, z, "k", now); !d.started {
					t.Fatalf("got %+v, want the block to start", d)
				}

				ask := now.Add(offset)
				d := mustDecide(t, z, "k", ask)
				secs := ceilSeconds(d.retry)
				if secs < 1 {
					t.Fatalf("got Retry-After %d, want at least 1", secs)
				}
				if d := mustDecide(t, z, "k", ask.Add(time.Duration(secs)*time.Second)); !d.allowed {
					t.Fatalf("retrying after %ds: got refused, want allowed", secs)
				}
			})
		}
	}
}

func TestCountStatusCondition(t *testing.T) {
	pol := policy{time.Minute, 5, time.Hour}
	for _, sk := range storeKinds(t) {
		t.Run(sk.name, func(t *testing.T) {
			z := testZone("login", pol, sk.make(t, "login", pol))
			z.count = []int{401, 403}
			now := t0
			for i := 0; i < 20; i++ { // successes are not counted
				if d := mustDecide(t, z, "k", now); !d.allowed {
					t.Fatalf("uncounted request %d: got refused, want allowed", i)
				}
			}
			for i := 0; i < 5; i++ {
				l := z.lookup("k", now)
				if d := mustDecide(t, z, "k", now); !d.allowed {
					t.Fatalf("failure %d: got refused, want allowed", i)
				}
				if err := z.store.add(context.Background(), l, now); err != nil {
					t.Fatal(err)
				}
			}
			if d := mustDecide(t, z, "k", now); d.allowed || d.retry != time.Hour {
				t.Fatalf("after 5 failures: got %+v, want refused for 1h", d)
			}
		})
	}
}

func TestRotationBoundaryKeepsBlocks(t *testing.T) {
	pol := policy{time.Minute, 1, time.Hour}
	for _, sk := range storeKinds(t) {
		t.Run(sk.name, func(t *testing.T) {
			z := testZone("rot", pol, sk.make(t, "rot", pol))
			before := time.Date(2026, 12, 4, 23, 59, 30, 0, time.UTC)
			mustDecide(t, z, "k", before)
			if d := mustDecide(t, z, "k", before); !d.started {
				t.Fatalf("got %+v, want the block to start", d)
			}

			after := before.Add(40 * time.Second) // 00:00:10, new secret
			l := z.lookup("k", after)
			if !l.hasPrev || l.cur == l.prev {
				t.Fatalf("got hasPrev=%v, same hash=%v, want a second, different hash",
					l.hasPrev, l.cur == l.prev)
			}
			d := mustDecide(t, z, "k", after)
			if d.allowed || d.retry != time.Hour-40*time.Second {
				t.Fatalf("after midnight: got %+v, want refused until the block ends", d)
			}
			if d := mustDecide(t, z, "k", before.Add(time.Hour)); !d.allowed {
				t.Fatalf("after the block: got refused, want allowed")
			}
		})
	}
}

func TestIPv6SlashSixtyFourSharesBucket(t *testing.T) {
	pol := policy{time.Minute, 100, 10 * time.Minute}
	z := testZone("global", pol, newMemStore(pol, 0))
	base := netip.MustParseAddr("2001:db8:1:2::")
	allowed := 0
	for i := 0; i < 5000; i++ {
		b := base.As16()
		b[12], b[13], b[14], b[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		b[8] = byte(i) // vary the interface identifier widely
		key := edge.AddrKey(netip.AddrFrom16(b))
		if mustDecide(t, z, key, t0).allowed {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("got %d of 5000 addresses in one /64 allowed, want 100", allowed)
	}
	if n := z.store.(*memStore).tracked(); n != 1 {
		t.Fatalf("got %d tracked keys, want 1", n)
	}
}

// bytesPerKeyBound is the documented memory bound of the memory store.
const bytesPerKeyBound = 200

func TestMemoryBoundHundredThousandKeys(t *testing.T) {
	pol := policy{time.Minute, 100, 10 * time.Minute}
	const n = 100_000
	perKey := measureBytesPerKey(t, pol, n)
	t.Logf("%.0f bytes per tracked key at %d keys", perKey, n)
	if perKey > bytesPerKeyBound {
		t.Fatalf("got %.0f bytes per key, want at most %d", perKey, bytesPerKeyBound)
	}
}

func measureBytesPerKey(t testing.TB, pol policy, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newMemStore(pol, n)
	k := newKeyer([]byte("x"))
	for i := 0; i < n; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		cur, _, _ := k.hash("global", edge.AddrKey(ip), t0, false)
		if _, err := s.decide(context.Background(), lookup{cur: cur}, t0, true); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.tracked(); got != n {
		t.Fatalf("got %d tracked keys, want %d", got, n)
	}
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// hashWithShard returns a key hash in shard 0 whose other bytes encode i.
func hashWithShard(i int) keyHash {
	var k keyHash
	k[0] = 0
	k[1], k[2] = byte(i>>8), byte(i)
	return k
}

func TestEviction(t *testing.T) {
	pol := policy{time.Minute, 1, time.Hour}
	s := newMemStore(pol, 2)
	ctx := context.Background()
	a, b, c, d := hashWithShard(1), hashWithShard(2), hashWithShard(3), hashWithShard(4)
	dec := func(k keyHash, now time.Time) (decision, error) {
		return s.decide(ctx, lookup{cur: k}, now, true)
	}
	has := func(k keyHash) bool {
		sh := s.shard(k)
		_, ok := sh.idx[k]
		return ok
	}

	dec(a, t0)
	dec(b, t0.Add(time.Second))
	dec(c, t0.Add(2*time.Second)) // evicts a, the least recently seen
	if has(a) || !has(b) || !has(c) {
		t.Fatalf("got a=%v b=%v c=%v tracked, want a evicted", has(a), has(b), has(c))
	}

	// block b and c: a full shard of blocked keys evicts nothing.
	dec(b, t0.Add(3*time.Second))
	dec(c, t0.Add(3*time.Second))
	if _, err := dec(d, t0.Add(4*time.Second)); err != errFull {
		t.Fatalf("got %v, want errFull", err)
	}
	if r, _ := dec(b, t0.Add(5*time.Second)); r.allowed {
		t.Fatalf("blocked key b: got allowed, want still blocked")
	}

	// once the blocks end, their entries are freed for new keys.
	if r, err := dec(d, t0.Add(3*time.Second+time.Hour)); err != nil || !r.allowed {
		t.Fatalf("after the blocks: got %+v %v, want allowed", r, err)
	}
}

func TestIdleKeysFreed(t *testing.T) {
	pol := policy{time.Minute, 10, time.Minute}
	s := newMemStore(pol, 0)
	k := newKeyer(nil)
	for i := 0; i < 5000; i++ {
		cur, _, _ := k.hash("z", fmt.Sprint(i), t0, false)
		if _, err := s.decide(context.Background(), lookup{cur: cur}, t0, true); err != nil {
			t.Fatal(err)
		}
	}
	s.sweepAll(t0.Add(time.Minute))
	if n := s.tracked(); n != 5000 {
		t.Fatalf("one period later: got %d tracked, want 5000 (still in the sliding period)", n)
	}
	s.sweepAll(t0.Add(2 * time.Minute))
	if n := s.tracked(); n != 0 {
		t.Fatalf("two periods later: got %d tracked, want 0", n)
	}
	slots := 0
	for i := range s.shards {
		slots += len(s.shards[i].ents)
	}
	if slots != 0 {
		t.Fatalf("got %d slots kept after compaction, want 0", slots)
	}
}

func TestCeilSeconds(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want int64
	}{
		{"negative", -time.Second, 1},
		{"zero", 0, 1},
		{"one ns", 1, 1},
		{"exact", 2 * time.Second, 2},
		{"just over", 2*time.Second + time.Millisecond, 3},
		{"hour", time.Hour, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ceilSeconds(tt.d); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func caddyDuration(s string) caddy.Duration {
	d, err := caddy.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return caddy.Duration(d)
}

func TestRedisPauseAfterFailure(t *testing.T) {
	srv := redistest.Start(t)
	pol := policy{time.Minute, 5, time.Minute}
	rdb := (&RedisConfig{Address: srv.Addr()}).client(nil)
	t.Cleanup(func() { _ = rdb.Close() })
	s := newRedisStore(rdb, "", "p", pol, false)
	s.pause = new(pause)
	z := testZone("p", pol, s)
	ctx := context.Background()
	try := func(now time.Time) error {
		_, err := s.decide(ctx, z.lookup("k", now), now, true)
		return err
	}

	srv.Stop()
	if err := try(t0); err == nil || errors.Is(err, errPaused) {
		t.Fatalf("first failure: got %v, want a connection error", err)
	}
	if err := try(t0.Add(pauseAfterFailure - time.Millisecond)); !errors.Is(err, errPaused) {
		t.Fatalf("within the pause: got %v, want errPaused", err)
	}
	srv.Start()
	if err := try(t0.Add(pauseAfterFailure)); err != nil {
		t.Fatalf("after the pause: got %v, want success", err)
	}

	// Redis answering with an error is no reason to pause.
	p := new(pause)
	p.failed(fmt.Errorf("script: %w", replyErr{}), t0)
	if p.active(t0) {
		t.Fatalf("after an error reply: got a pause, want none")
	}
}

// replyErr is an error reply from Redis, as go-redis types it.
type replyErr struct{}

func (replyErr) Error() string { return "ERR something" }
func (replyErr) RedisError()   {}

var _ redis.Error = replyErr{}
