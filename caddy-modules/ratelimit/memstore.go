package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

const (
	memShards = 16

	// DefaultMaxKeys is the memory store's default cap on tracked keys per
	// zone. At about 100 bytes per key (see the benchmark) it bounds a
	// zone near 100 MB.
	DefaultMaxKeys = 1_000_000

	// sweepPerCall bounds the expired entries one decision frees in
	// passing, so that no request pays for a large sweep.
	sweepPerCall = 2

	// compactMin is the slot count below which a shard never compacts.
	compactMin = 1024
)

const none = int32(-1)

// memStore keeps a zone's state in process memory, in constant space per
// key: two bucket counters, the window start, the block end and list links.
//
// Eviction rule: when a zone tracks max keys and a new key arrives, expired
// entries are freed first; then the least recently seen key that is not
// blocked is dropped (its partial count is forgotten). Blocked keys are never
// evicted, so flooding with fresh addresses cannot lift a block. If every
// tracked key is blocked the new key is not tracked and the decision fails
// with errFull, which the zone handles like a store outage (on_store_error).
type memStore struct {
	pol    policy
	total  atomic.Int64 // keys tracked over all shards
	shards [memShards]memShard
}

type memShard struct {
	mu    sync.Mutex
	total *atomic.Int64
	max   int64

	idx  map[keyHash]int32
	ents []memEntry
	free []int32

	// active holds unblocked entries, most recently seen first; blocked
	// holds blocked entries in the order their blocks began, which is the
	// order they end since a zone has one block duration.
	active  list
	blocked list
}

type list struct{ head, tail int32 }

type memEntry struct {
	key        keyHash
	prev, cur  int64
	start      int64 // window start, ns since the epoch
	until      int64 // block end, ns; 0 when not blocked
	seen       int64 // last decision, ns
	prevI, nxt int32
}

func newMemStore(pol policy, maxKeys int) *memStore {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	s := &memStore{pol: pol}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.total, sh.max = &s.total, int64(maxKeys)
		sh.idx = make(map[keyHash]int32)
		sh.active = list{none, none}
		sh.blocked = list{none, none}
	}
	return s
}

func (s *memStore) shard(k keyHash) *memShard { return &s.shards[k[0]%memShards] }

// blockedUntil returns the block end of k, or 0.
func (s *memStore) blockedUntil(k keyHash, now int64) int64 {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.idx[k]; ok && sh.ents[i].until > now {
		return sh.ents[i].until
	}
	return 0
}

func (s *memStore) decide(_ context.Context, l lookup, t time.Time, count bool) (decision, error) {
	now := t.UnixNano()
	if l.hasPrev {
		if until := s.blockedUntil(l.prev, now); until != 0 {
			return decision{retry: time.Duration(until - now)}, nil
		}
	}

	sh := s.shard(l.cur)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweep(now, s.pol, sweepPerCall)

	period := int64(s.pol.period)
	i, ok := sh.idx[l.cur]
	if !ok && !count {
		// nothing to remember until the counting condition matches.
		ws := now - mod(now, period)
		return decision{
			allowed:   true,
			remaining: s.pol.requests,
			reset:     time.Duration(ws + period - now),
		}, nil
	}
	if !ok {
		var err error
		if i, err = sh.insert(l.cur, now, s.pol); err != nil {
			return decision{}, err
		}
	}
	e := &sh.ents[i]
	if e.until > now {
		return decision{retry: time.Duration(e.until - now)}, nil
	}
	if e.until != 0 {
		sh.release(i) // block over: start afresh
		if i, _ = sh.insert(l.cur, now, s.pol); i == none {
			return decision{}, errFull
		}
		e = &sh.ents[i]
	}

	e.prev, e.cur, e.start = roll(e.prev, e.cur, e.start, now, period)
	elapsed := max(now-e.start, 0)
	if scaled(e.prev, e.cur, elapsed, period) >= s.pol.requests*period {
		sh.startBlock(i, now+int64(s.pol.block))
		return decision{started: true, retry: s.pol.block}, nil
	}
	if count {
		e.cur++
	}
	e.seen = now
	sh.active.remove(sh.ents, i)
	sh.active.pushFront(sh.ents, i)
	return decision{
		allowed:   true,
		remaining: left(e.prev, e.cur, elapsed, period, s.pol.requests),
		reset:     time.Duration(e.start + period - now),
	}, nil
}

func (s *memStore) add(_ context.Context, l lookup, t time.Time) error {
	now := t.UnixNano()
	sh := s.shard(l.cur)
	sh.mu.Lock()
	defer sh.mu.Unlock()

	i, ok := sh.idx[l.cur]
	if !ok {
		var err error
		if i, err = sh.insert(l.cur, now, s.pol); err != nil {
			return err
		}
	}
	e := &sh.ents[i]
	if e.until != 0 {
		return nil // blocked requests do not count
	}
	period := int64(s.pol.period)
	e.prev, e.cur, e.start = roll(e.prev, e.cur, e.start, now, period)
	e.cur++
	e.seen = now
	sh.active.remove(sh.ents, i)
	sh.active.pushFront(sh.ents, i)
	return nil
}

func (s *memStore) blocks(_ context.Context, t time.Time) ([]blockEntry, error) {
	now := t.UnixNano()
	var out []blockEntry
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j := sh.blocked.head; j != none; j = sh.ents[j].nxt {
			if e := &sh.ents[j]; e.until > now {
				out = append(out, blockEntry{
					Key:     e.key.String(),
					Expires: time.Unix(0, e.until).UTC(),
				})
			}
		}
		sh.mu.Unlock()
	}
	return out, nil
}

func (s *memStore) unblock(_ context.Context, k keyHash, t time.Time) (bool, error) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.idx[k]
	if !ok || sh.ents[i].until <= t.UnixNano() {
		return false, nil
	}
	sh.release(i)
	return true, nil
}

func (s *memStore) unblockAll(_ context.Context, t time.Time) (int, error) {
	now := t.UnixNano()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j := sh.blocked.head; j != none; {
			next := sh.ents[j].nxt
			if sh.ents[j].until > now {
				n++
			}
			sh.release(j)
			j = next
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// tracked returns the number of keys held.
func (s *memStore) tracked() int { return int(s.total.Load()) }

// sweepAll frees every expired entry; the zone's janitor calls it.
func (s *memStore) sweepAll(t time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.sweep(t.UnixNano(), s.pol, -1)
		sh.compact()
		sh.mu.Unlock()
	}
}

// sweep frees up to n (all if n < 0) entries whose state no longer matters:
// blocks that ended, and unblocked keys whose both buckets are out of the
// sliding period.
func (sh *memShard) sweep(now int64, pol policy, n int) {
	period := int64(pol.period)
	for n != 0 && sh.blocked.head != none && sh.ents[sh.blocked.head].until <= now {
		sh.release(sh.blocked.head)
		n--
	}
	for n != 0 && sh.active.tail != none && sh.ents[sh.active.tail].start+2*period <= now {
		sh.release(sh.active.tail)
		n--
	}
}

// insert adds k, making room by the eviction rule when the shard is full.
//
// Note: the cap is global but eviction looks at the arriving key's shard
// only, so a full store may refuse a key (errFull) while another shard still
// holds unblocked keys.
func (sh *memShard) insert(k keyHash, now int64, pol policy) (int32, error) {
	if sh.total.Load() >= sh.max {
		sh.sweep(now, pol, -1)
	}
	if sh.total.Load() >= sh.max {
		if sh.active.tail == none {
			return none, errFull
		}
		sh.release(sh.active.tail)
	}

	var i int32
	if n := len(sh.free); n > 0 {
		i, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		sh.ents = append(sh.ents, memEntry{})
		i = int32(len(sh.ents) - 1)
	}
	period := int64(pol.period)
	sh.ents[i] = memEntry{key: k, start: now - mod(now, period), seen: now}
	sh.idx[k] = i
	sh.total.Add(1)
	sh.active.pushFront(sh.ents, i)
	return i, nil
}

func (sh *memShard) startBlock(i int32, until int64) {
	e := &sh.ents[i]
	e.prev, e.cur, e.until = 0, 0, until
	sh.active.remove(sh.ents, i)
	sh.blocked.pushBack(sh.ents, i)
}

// release forgets entry i.
func (sh *memShard) release(i int32) {
	e := &sh.ents[i]
	if e.until != 0 {
		sh.blocked.remove(sh.ents, i)
	} else {
		sh.active.remove(sh.ents, i)
	}
	delete(sh.idx, e.key)
	sh.total.Add(-1)
	*e = memEntry{prevI: none, nxt: none}
	sh.free = append(sh.free, i)
}

// compact rebuilds a shard that holds far fewer keys than it has room for,
// so that memory taken by a burst of keys is returned once they are freed.
func (sh *memShard) compact() {
	empty := len(sh.idx) == 0 && len(sh.ents) > 0
	if !empty && (len(sh.ents) < compactMin || len(sh.idx) > len(sh.ents)/4) {
		return
	}
	ents := make([]memEntry, 0, 2*len(sh.idx))
	idx := make(map[keyHash]int32, len(sh.idx))
	active, blocked := list{none, none}, list{none, none}
	for _, l := range []struct {
		src *list
		dst *list
	}{{&sh.active, &active}, {&sh.blocked, &blocked}} {
		for j := l.src.head; j != none; j = sh.ents[j].nxt {
			e := sh.ents[j]
			ents = append(ents, e)
			n := int32(len(ents) - 1)
			idx[e.key] = n
			l.dst.pushBack(ents, n)
		}
	}
	sh.ents, sh.idx, sh.free = ents, idx, nil
	sh.active, sh.blocked = active, blocked
}

func (l *list) pushFront(ents []memEntry, i int32) {
	ents[i].prevI, ents[i].nxt = none, l.head
	if l.head != none {
		ents[l.head].prevI = i
	}
	l.head = i
	if l.tail == none {
		l.tail = i
	}
}

func (l *list) pushBack(ents []memEntry, i int32) {
	ents[i].prevI, ents[i].nxt = l.tail, none
	if l.tail != none {
		ents[l.tail].nxt = i
	}
	l.tail = i
	if l.head == none {
		l.head = i
	}
}

func (l *list) remove(ents []memEntry, i int32) {
	e := &ents[i]
	if e.prevI != none {
		ents[e.prevI].nxt = e.nxt
	} else {
		l.head = e.nxt
	}
	if e.nxt != none {
		ents[e.nxt].prevI = e.prevI
	} else {
		l.tail = e.prevI
	}
	e.prevI, e.nxt = none, none
}
