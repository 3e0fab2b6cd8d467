package ratelimit

import (
	"context"
	"errors"
	"time"
)

// policy is what a store needs of a zone: the Cloudflare-style rule.
type policy struct {
	period   time.Duration
	requests int64
	block    time.Duration
}

// lookup names one client in one zone: its hash under today's secret and,
// during the first block duration after midnight, under yesterday's, so that
// a block does not end early at the rotation.
type lookup struct {
	cur     keyHash
	prev    keyHash
	hasPrev bool
}

// decision is a store's answer for one request.
type decision struct {
	allowed bool

	// started reports that this request crossed the limit and began the
	// block (metric "limited"); a refusal without it is a request that
	// arrived during a block (metric "blocked").
	started bool

	// retry is how long the block still runs, when refused.
	retry time.Duration

	// remaining is how many more requests the window admits, when allowed.
	remaining int64

	// reset is how long until the current window ends, when allowed.
	reset time.Duration
}

// blockEntry is one active block, as the admin API lists it.
type blockEntry struct {
	Zone    string    `json:"zone"`
	Key     string    `json:"key"` // hex key hash
	Expires time.Time `json:"expires"`
}

// errFull is returned when the memory store's cap is reached and every
// tracked key is blocked, so that nothing may be evicted.
var errFull = errors.New("every tracked key is blocked and the key cap is reached")

// store keeps the counters and blocks of one zone.
//
// Time comes from the caller (now), except for the Redis store when no
// clock is injected: it then uses the Redis server's clock so that
// instances agree on block ends.
type store interface {
	// decide refuses the request if the key is blocked or if counting it
	// would cross the limit (which starts a block); otherwise it admits
	// it, counting it when count is set.
	decide(ctx context.Context, l lookup, now time.Time, count bool) (decision, error)

	// add counts one event for a key after the fact (the zone's counting
	// condition matched the response). It never blocks by itself: the next
	// decide does.
	add(ctx context.Context, l lookup, now time.Time) error

	// blocks lists active blocks.
	blocks(ctx context.Context, now time.Time) ([]blockEntry, error)

	// unblock ends the block of one key hash; it reports whether one existed.
	unblock(ctx context.Context, k keyHash, now time.Time) (bool, error)

	// unblockAll ends every block and reports how many ended.
	unblockAll(ctx context.Context, now time.Time) (int, error)
}

// window is the arithmetic shared by both stores: a sliding-window counter
// with two fixed buckets aligned on multiples of the period. The estimate
// weighs the previous bucket by the part of it still inside the sliding
// period. All values are in the same unit (ns in memory, ms in Redis).
//
// The scaled estimate is prev*(period-elapsed) + cur*period; the limit is
// reached when it is at least requests*period.

// roll moves the buckets forward to the window containing now. A now from
// before the stored window (a request that started earlier and finishes
// later, or two requests racing for the lock across a window boundary)
// counts in the current window: it must never reset the counts.
func roll(prev, cur, start, now, period int64) (int64, int64, int64) {
	ws := now - mod(now, period)
	switch {
	case ws <= start:
		return prev, cur, start
	case ws-start == period:
		return cur, 0, ws
	default:
		return 0, 0, ws
	}
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// scaled returns the weighted count times period.
func scaled(prev, cur, elapsed, period int64) int64 {
	return prev*(period-elapsed) + cur*period
}

// left returns how many more events fit under requests.
func left(prev, cur, elapsed, period, requests int64) int64 {
	r := (requests*period - scaled(prev, cur, elapsed, period)) / period
	if r < 0 {
		return 0
	}
	return r
}
