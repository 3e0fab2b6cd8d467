package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/logfield"
)

// RedisConfig connects the handler's Redis zones to one Redis server, which
// every instance sharing the limits points at.
type RedisConfig struct {
	// Address is host:port. Placeholders are expanded.
	Address string `json:"address"`

	// Username and Password for AUTH; placeholders are expanded, so that
	// {env.REDIS_PASSWORD} keeps the secret out of the config.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// DB is the database number.
	DB int `json:"db,omitempty"`

	// Prefix starts every key (default "picket:rl").
	Prefix string `json:"prefix,omitempty"`

	// Timeout bounds a dial, a read and a write (default 250ms). It is the
	// most a request waits before the zone's on_store_error applies.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

const (
	defaultRedisPrefix  = "picket:rl"
	defaultRedisTimeout = 250 * time.Millisecond
)

func (c *RedisConfig) client(repl *caddy.Replacer) *redis.Client {
	if repl == nil {
		repl = caddy.NewReplacer()
	}
	timeout := time.Duration(c.Timeout)
	if timeout <= 0 {
		timeout = defaultRedisTimeout
	}
	return redis.NewClient(&redis.Options{
		Addr:                  repl.ReplaceAll(c.Address, ""),
		Username:              repl.ReplaceAll(c.Username, ""),
		Password:              repl.ReplaceAll(c.Password, ""),
		DB:                    c.DB,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		// a decision is never retried: the zone's failure mode answers
		// instead, and the next request tries again.
		MaxRetries:      -1,
		DialerRetries:   1,
		DisableIdentity: true,
	})
}

func init() {
	// go-redis reports pool trouble through a package-wide logger that
	// writes to stderr; send it to Caddy's log at debug level instead. The
	// zone's own rate-limited warning is the operator's signal.
	redis.SetLogger(redisLogger{})
}

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	l := caddy.Log().Named("picket_rate_limit.redis")
	if c := l.Check(zap.DebugLevel, "redis client"); c != nil {
		c.Write(zap.String(logfield.Reason, fmt.Sprintf(format, v...)))
	}
}

// redisStore keeps a zone's state in Redis. Per key one hash holds the two
// bucket counters, the window start and the block end; it expires on its
// own once neither counts nor a block matter. A sorted set per zone lists
// blocks for the admin API. Every key carries the zone in a hash tag, so a
// cluster keeps a zone's keys on one slot.
type redisStore struct {
	rdb    *redis.Client
	pol    policy
	prefix string // "<prefix>:{<zone>}:"
	zone   string

	// serverTime makes the scripts read Redis's clock instead of the
	// caller's, so that instances agree on windows and block ends.
	serverTime bool

	// pause, shared by the stores of one connection, is nil in tests of
	// the store alone.
	pause *pause
}

// pause makes a connection skip Redis for a while after a connection-level
// failure, so that a hung or unreachable Redis costs at most one timeout per
// interval instead of one per request. The first request after the interval
// tries again: that is the recovery.
type pause struct{ until atomic.Int64 }

// pauseAfterFailure is the interval a connection rests after a failure.
const pauseAfterFailure = time.Second

var errPaused = errors.New("redis paused after a failure")

func (p *pause) active(now time.Time) bool {
	return p != nil && now.UnixNano() < p.until.Load()
}

// failed starts a pause unless err is Redis answering with an error, which
// says the connection works, or a caller giving up, which says nothing
// about Redis.
func (p *pause) failed(err error, now time.Time) {
	var reply redis.Error
	if p == nil || errors.As(err, &reply) || errors.Is(err, context.Canceled) {
		return
	}
	p.until.Store(now.Add(pauseAfterFailure).UnixNano())
}

func newRedisStore(rdb *redis.Client, prefix, zone string, pol policy, serverTime bool) *redisStore {
	if prefix == "" {
		prefix = defaultRedisPrefix
	}
	return &redisStore{
		rdb:        rdb,
		pol:        pol,
		prefix:     prefix + ":{" + zone + "}:",
		zone:       zone,
		serverTime: serverTime,
	}
}

// scriptNow reads the clock: the caller's in ms, or Redis's TIME when the
// argument is negative.
const scriptNow = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// decideScript: KEYS state, blocked set, yesterday's state (or state again);
// ARGV now, period, requests, block (ms), mode, member. Modes: "c" decide
// and count, "n" decide without counting, "a" count after the response.
// Returns {allowed, started, retry, remaining, reset}.
var decideScript = redis.NewScript(scriptNow + `
local period = tonumber(ARGV[2])
local requests = tonumber(ARGV[3])
local block = tonumber(ARGV[4])
local mode = ARGV[5]

if mode ~= 'a' and KEYS[3] ~= KEYS[1] then
  local pb = tonumber(redis.call('HGET', KEYS[3], 'b')) or 0
  if pb > now then return {0, 0, pb - now, 0, 0} end
end

local s = redis.call('HMGET', KEYS[1], 'p', 'c', 'w', 'b')
local prev = tonumber(s[1]) or 0
local cur = tonumber(s[2]) or 0
local w = tonumber(s[3])
local b = tonumber(s[4]) or 0
if b > now then
  return {0, 0, b - now, 0, 0}
end

local ws = now - (now % period)
if w == nil or b ~= 0 then
  prev = 0
  cur = 0
elseif ws - w == period then
  prev = cur
  cur = 0
elseif ws ~= w then
  prev = 0
  cur = 0
end
local elapsed = now - ws
local used = prev * (period - elapsed) + cur * period

if mode ~= 'a' and used >= requests * period then
  local untl = now + block
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'b', untl)
  redis.call('PEXPIRE', KEYS[1], block)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZADD', KEYS[2], untl, ARGV[6])
  if redis.call('PTTL', KEYS[2]) < block then
    redis.call('PEXPIRE', KEYS[2], block)
  end
  return {0, 1, block, 0, 0}
end

if mode ~= 'n' then
  cur = cur + 1
  used = used + period
  if b ~= 0 then redis.call('HDEL', KEYS[1], 'b') end
  redis.call('HSET', KEYS[1], 'p', prev, 'c', cur, 'w', ws)
  redis.call('PEXPIRE', KEYS[1], ws + 2 * period - now)
end
local rem = math.floor((requests * period - used) / period)
if rem < 0 then rem = 0 end
return {1, 0, 0, rem, period - elapsed}
`)

// blocksScript: KEYS blocked set; ARGV now. Returns member, end pairs.
var blocksScript = redis.NewScript(scriptNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE', 'WITHSCORES')
`)

// unblockScript: KEYS state, blocked set; ARGV now, member. Returns 1 if a
// block ended.
var unblockScript = redis.NewScript(scriptNow + `
redis.call('ZREM', KEYS[2], ARGV[2])
local b = tonumber(redis.call('HGET', KEYS[1], 'b')) or 0
if b > now then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

func (s *redisStore) key(k keyHash) string { return s.prefix + k.String() }

func (s *redisStore) blockedKey() string { return s.prefix + "blocked" }

func (s *redisStore) nowArg(now time.Time) int64 {
	if s.serverTime {
		return -1
	}
	return now.UnixMilli()
}

func (s *redisStore) run(ctx context.Context, l lookup, now time.Time, mode string) ([]int64, error) {
	cur := s.key(l.cur)
	prev := cur
	if l.hasPrev {
		prev = s.key(l.prev)
	}
	if s.pause.active(now) {
		return nil, errPaused
	}
	res, err := decideScript.Run(ctx, s.rdb,
		[]string{cur, s.blockedKey(), prev},
		s.nowArg(now), s.pol.period.Milliseconds(), s.pol.requests,
		s.pol.block.Milliseconds(), mode, l.cur.String(),
	).Int64Slice()
	if err != nil {
		s.pause.failed(err, now)
		return nil, fmt.Errorf("rate limit script: %w", err)
	}
	if len(res) != 5 {
		return nil, fmt.Errorf("rate limit script: got %d values, want 5", len(res))
	}
	return res, nil
}

func (s *redisStore) decide(ctx context.Context, l lookup, now time.Time, count bool) (decision, error) {
	mode := "n"
	if count {
		mode = "c"
	}
	res, err := s.run(ctx, l, now, mode)
	if err != nil {
		return decision{}, err
	}
	ms := time.Millisecond
	return decision{
		allowed:   res[0] == 1,
		started:   res[1] == 1,
		retry:     time.Duration(res[2]) * ms,
		remaining: res[3],
		reset:     time.Duration(res[4]) * ms,
	}, nil
}

func (s *redisStore) add(ctx context.Context, l lookup, now time.Time) error {
	l.hasPrev = false
	_, err := s.run(ctx, l, now, "a")
	return err
}

func (s *redisStore) blocks(ctx context.Context, now time.Time) ([]blockEntry, error) {
	res, err := blocksScript.Run(ctx, s.rdb, []string{s.blockedKey()}, s.nowArg(now)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("listing blocks: %w", err)
	}
	out := make([]blockEntry, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		ms, err := strconv.ParseInt(res[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing blocks: bad score %q", res[i+1])
		}
		out = append(out, blockEntry{Key: res[i], Expires: time.UnixMilli(ms).UTC()})
	}
	return out, nil
}

func (s *redisStore) unblock(ctx context.Context, k keyHash, now time.Time) (bool, error) {
	n, err := unblockScript.Run(ctx, s.rdb, []string{s.key(k), s.blockedKey()},
		s.nowArg(now), k.String()).Int64()
	if err != nil {
		return false, fmt.Errorf("unblocking: %w", err)
	}
	return n == 1, nil
}

func (s *redisStore) unblockAll(ctx context.Context, now time.Time) (int, error) {
	list, err := s.blocks(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range list {
		k, ok := parseKeyHash(b.Key)
		if !ok {
			continue
		}
		done, err := s.unblock(ctx, k, now)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}
