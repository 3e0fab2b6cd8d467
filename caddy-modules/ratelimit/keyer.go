package ratelimit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
	"time"
)

// hashLen is the length of a stored key hash. 128 bits keep collisions out
// of reach for any realistic number of clients while halving the memory of
// a full SHA-256.
const hashLen = 16

// keyHash is the only form in which a client key is ever stored, compared,
// logged or shown.
type keyHash [hashLen]byte

// String returns the hash in hex, the form used in Redis keys and the
// admin API.
func (k keyHash) String() string { return hex.EncodeToString(k[:]) }

// parseKeyHash reads the hex form back.
func parseKeyHash(s string) (keyHash, bool) {
	var k keyHash
	if len(s) != 2*hashLen {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, false
	}
	return k, true
}

// keyer turns client keys into keyed hashes with a secret that changes at
// every UTC midnight (see RATIONALE.md, "Why HMAC keys that rotate daily?").
//
// With a configured secret, the day's secret is derived from it and the
// date, so every instance sharing a Redis computes the same hashes. Without
// one, each day's secret is random, lives only in this process's memory and
// is dropped a day after it stopped being current.
type keyer struct {
	master []byte // nil: random day secrets

	mu   sync.Mutex
	day  int64 // days since the epoch, UTC, of cur
	cur  []byte
	prev []byte // yesterday's secret, nil if unknown

	pool sync.Pool // of *macState
}

type macState struct {
	day int64
	cur hash.Hash
	old hash.Hash // keyed with the previous day's secret
	buf []byte    // scratch for the hashed input, reused
}

func newKeyer(master []byte) *keyer {
	return &keyer{master: master, day: -1}
}

const dayNanos = int64(24 * time.Hour)

func dayOf(t time.Time) int64 {
	ns := t.UnixNano()
	d := ns / dayNanos
	if ns < 0 && ns%dayNanos != 0 {
		d--
	}
	return d
}

// secrets returns the secrets for day d and d-1.
func (k *keyer) secrets(d int64) (cur, prev []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.day == d {
		return k.cur, k.prev
	}
	if d < k.day {
		// a caller whose clock read came just before a rotation that
		// another caller already made: never rotate backwards.
		return k.earlier(d)
	}
	if k.master != nil {
		k.day, k.cur, k.prev = d, k.derive(d), k.derive(d-1)
		return k.cur, k.prev
	}

	// random secrets: keep yesterday's only if it is the one we had.
	var old []byte
	if k.day == d-1 {
		old = k.cur
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	k.day, k.cur, k.prev = d, fresh, old
	return k.cur, k.prev
}

// earlier returns the secrets for a day before the current one.
func (k *keyer) earlier(d int64) (cur, prev []byte) {
	switch {
	case k.master != nil:
		return k.derive(d), k.derive(d - 1)
	case d == k.day-1 && k.prev != nil:
		return k.prev, nil
	}
	// Note: random secrets of older days are gone; today's stands in.
	return k.cur, k.prev
}

func (k *keyer) derive(d int64) []byte {
	m := hmac.New(sha256.New, k.master)
	m.Write([]byte("picket rate limit day secret "))
	m.Write([]byte(time.Unix(d*86400, 0).UTC().Format(time.DateOnly)))
	return m.Sum(nil)
}

// hash returns the hash of the client key in zone at now, and, when withPrev
// is set and yesterday's secret is known, the hash under yesterday's secret.
func (k *keyer) hash(zone, key string, now time.Time, withPrev bool) (cur, prev keyHash, hasPrev bool) {
	d := dayOf(now)
	st, _ := k.pool.Get().(*macState)
	if st == nil || st.day != d {
		c, p := k.secrets(d)
		st = &macState{day: d, cur: hmac.New(sha256.New, c)}
		if p != nil {
			st.old = hmac.New(sha256.New, p)
		}
	}
	st.buf = append(append(append(st.buf[:0], zone...), 0), key...)
	cur = sum(st.cur, st.buf)
	if withPrev && st.old != nil {
		prev, hasPrev = sum(st.old, st.buf), true
	}
	k.pool.Put(st)
	return cur, prev, hasPrev
}

func sum(m hash.Hash, input []byte) keyHash {
	var buf [sha256.Size]byte
	var out keyHash
	m.Reset()
	m.Write(input)
	copy(out[:], m.Sum(buf[:0]))
	return out
}

// sinceMidnight returns how long ago the current UTC day began.
func sinceMidnight(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - dayOf(now)*dayNanos)
}
