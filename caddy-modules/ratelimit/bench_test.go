package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/internal/redistest"
)

// keysFor returns n distinct IPv4 client keys.
func keysFor(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = edge.AddrKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	return out
}

// BenchmarkMemoryDecision is the cost of one decision in memory, hashing
// included: a hot allowed key, a key under a block, and many distinct keys.
func BenchmarkMemoryDecision(b *testing.B) {
	cases := []struct {
		name string
		pol  policy
		keys int
	}{
		{"allowed-1-key", policy{time.Minute, 1 << 40, time.Minute}, 1},
		{"blocked-1-key", policy{time.Minute, 1, time.Hour}, 1},
		{"allowed-100k-keys", policy{time.Minute, 1 << 40, time.Minute}, 100_000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			z := testZone("bench", c.pol, newMemStore(c.pol, 0))
			keys := keysFor(c.keys)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now := t0.Add(time.Duration(i) * time.Microsecond % time.Second)
				if _, err := z.store.decide(ctx, z.lookup(keys[i%len(keys)], now), now, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemoryDecisionParallel is the same decision under contention.
func BenchmarkMemoryDecisionParallel(b *testing.B) {
	pol := policy{time.Minute, 1 << 40, time.Minute}
	z := testZone("bench", pol, newMemStore(pol, 0))
	keys := keysFor(10_000)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(n.Add(1))
			if _, err := z.store.decide(ctx, z.lookup(keys[i%len(keys)], t0), t0, true); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMemoryBytesPerKey reports the heap taken per tracked key at one
// million keys.
func BenchmarkMemoryBytesPerKey(b *testing.B) {
	for i := 0; i < b.N; i++ {
		perKey := measureBytesPerKey(b, policy{time.Minute, 100, 10 * time.Minute}, 1_000_000)
		b.ReportMetric(perKey, "bytes/key")
	}
}

// BenchmarkRedisDecision measures decisions per second against a
// redis-server on loopback, from parallel clients.
func BenchmarkRedisDecision(b *testing.B) {
	srv := redistest.Start(b)
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients-%d", par), func(b *testing.B) {
			pol := policy{time.Minute, 1 << 40, time.Minute}
			rdb := (&RedisConfig{Address: srv.Addr()}).client(nil)
			defer rdb.Close()
			z := testZone("bench", pol, newRedisStore(rdb, "", "bench", pol, true))
			keys := keysFor(10_000)
			var n atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := int(n.Add(1))
					now := time.Now()
					if _, err := z.store.decide(ctx, z.lookup(keys[i%len(keys)], now), now, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
		})
	}
}
