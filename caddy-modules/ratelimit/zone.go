package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/edge"
	"github.com/picket-edge/picket/internal/logfield"
)

// Store names and failure modes.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"

	FailClosed = "fail_closed"
	FailOpen   = "fail_open"
)

// Source filters a zone may use.
const (
	SourceAny      = ""
	SourceClearnet = "clearnet" // every request that is not onion traffic
)

// ZoneConfig is one rate-limit rule, after Cloudflare's rate limiting rules:
// which requests it applies to, what identifies a client, how many requests
// per period, and how long a client that crossed the line stays blocked.
type ZoneConfig struct {
	// Name identifies the zone in headers, metrics, Redis keys and the
	// admin API. Letters, digits, '-' and '_' only.
	Name string `json:"name"`

	// Request matchers; the zone applies to requests matching any set.
	// Without matchers it applies to every request.
	MatcherSetsRaw caddyhttp.RawMatcherSets `json:"match,omitempty" caddy:"namespace=http.matchers"`

	// Source restricts the zone to a source class: "onion", "clearnet"
	// (anything but onion), "cloudflare" or "local". Empty: any.
	Source string `json:"source,omitempty"`

	// Key identifies the client; placeholders are expanded. Empty: the
	// trusted client from the lock-down module (IPv4 per address, IPv6 per
	// /64, onion per circuit or one shared onion bucket), or the peer
	// address when no lock-down decision was recorded.
	Key string `json:"key,omitempty"`

	// Period over which requests are counted.
	Period caddy.Duration `json:"period"`

	// Requests admitted per period; the next one starts the block.
	Requests int64 `json:"requests"`

	// Block is how long a client stays refused once it crossed the limit
	// (Cloudflare's mitigation timeout). Fixed: refused requests do not
	// extend it.
	Block caddy.Duration `json:"block"`

	// CountStatus, when set, counts only requests whose response status is
	// listed (e.g. 401 and 403 for a login). Every request is still
	// refused while blocked.
	CountStatus []int `json:"count_status,omitempty"`

	// Store is "memory" (default) or "redis".
	Store string `json:"store,omitempty"`

	// OnStoreError is "fail_closed" (default: refuse with 503) or
	// "fail_open" (admit) for when the store cannot decide.
	OnStoreError string `json:"on_store_error,omitempty"`

	// MaxKeys caps the keys a memory zone tracks (default 1,000,000).
	MaxKeys int `json:"max_keys,omitempty"`
}

// zone is a provisioned ZoneConfig.
type zone struct {
	cfg      *ZoneConfig
	pol      policy
	matchers caddyhttp.MatcherSets
	nameQ    string // the name as a structured-field string
	policyH  string // RateLimit-Policy item
	st       *zoneState
	store    store
	failOpen bool
	count    []int
}

func (z *zone) applies(r *http.Request) (bool, error) {
	if z.cfg.Source != SourceAny {
		c, ok := edge.From(r)
		src := edge.Source("")
		if ok {
			src = c.Source
		}
		if !sourceMatches(z.cfg.Source, src) {
			return false, nil
		}
	}
	ok, err := z.matchers.AnyMatchWithError(r)
	if ok || err != nil || r.URL.RawPath == "" {
		return ok, err
	}

	// Caddy's path matcher decodes the whole path before cleaning it, so
	// "/ballots/b1%2Fx/vote" looks like four segments and "/ballots/%2e/vote"
	// like two; net/http's ServeMux decodes per segment and routes both to
	// "/ballots/{id}/vote". The zone applies if either view matches.
	view, changed := routerView(r.URL.EscapedPath())
	if !changed {
		return false, nil
	}
	r2, u := *r, *r.URL
	u.Path, u.RawPath = view, ""
	r2.URL = &u
	return z.matchers.AnyMatchWithError(&r2)
}

// routerView decodes an escaped path segment by segment, as a router that
// matches segments does, keeping a segment that decodes to something
// containing "/" or to a dot segment opaque (re-escaped) so that cleaning
// cannot split or drop it. changed reports whether any segment was kept so.
func routerView(escaped string) (view string, changed bool) {
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			continue
		}
		if d != s && (strings.Contains(d, "/") || d == "." || d == "..") {
			d = strings.NewReplacer("/", "%2F", ".", "%2E").Replace(d)
			changed = true
		}
		segs[i] = d
	}
	return strings.Join(segs, "/"), changed
}

func sourceMatches(want string, got edge.Source) bool {
	if want == SourceClearnet {
		return got != edge.SourceOnion
	}
	return string(got) == want
}

// clientKey returns the unhashed identity of the request's sender in z.
func (z *zone) clientKey(r *http.Request) string {
	if z.cfg.Key != "" {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if repl != nil {
			return repl.ReplaceAll(z.cfg.Key, "")
		}
		return z.cfg.Key
	}
	if c, ok := edge.From(r); ok {
		return c.Key()
	}
	return peerKey(r.RemoteAddr)
}

// peerKey groups the TCP peer like edge.AddrKey; it is the fallback when no
// lock-down handler recorded a client.
func peerKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return edge.AddrKey(ip)
}

func (z *zone) lookup(key string, now time.Time) lookup {
	withPrev := sinceMidnight(now) < z.pol.block
	cur, prev, ok := z.st.keyer.hash(z.cfg.Name, key, now, withPrev)
	return lookup{cur: cur, prev: prev, hasPrev: ok}
}

// decide asks the store and applies the failure mode. ok reports whether
// the store answered.
func (z *zone) decide(ctx context.Context, l lookup, now time.Time) (decision, bool) {
	// a client that cancels its request must not make the store look down
	// for everyone; the store's own timeouts bound the call
	d, err := z.store.decide(context.WithoutCancel(ctx), l, now, len(z.count) == 0)
	if err != nil {
		z.st.storeFailed(err, now)
		return decision{allowed: z.failOpen}, false
	}
	switch {
	case d.allowed:
		z.st.allowed.Add(1)
	case d.started:
		z.st.limited.Add(1)
	default:
		z.st.blocked.Add(1)
	}
	return d, true
}

func (z *zone) countsStatus(status int) bool { return slices.Contains(z.count, status) }

// zoneState is the part of a zone that outlives a config reload: the memory
// store, the hashing secrets when they are random, and the counters behind
// the metrics. It lives in a caddy.UsagePool keyed by the zone's config.
type zoneState struct {
	name  string
	keyer *keyer
	mem   *memStore // nil for Redis zones

	allowed, limited, blocked, storeErrors atomic.Uint64
	lastLog                                atomic.Int64 // ns of the last store-error log

	// redis is the Redis store of the newest handler using the zone, for
	// the admin API.
	redis atomic.Pointer[redisStore]

	logger *zap.Logger
	stop   chan struct{}
	once   sync.Once
}

// current returns the zone's store for the admin API, nil if none.
func (s *zoneState) current() store {
	if s.mem != nil {
		return s.mem
	}
	if r := s.redis.Load(); r != nil {
		return r
	}
	return nil
}

var states = caddy.NewUsagePool()

// storeErrLogEvery spaces out store-error log lines per zone.
const storeErrLogEvery = 10 * time.Second

func (s *zoneState) storeFailed(err error, now time.Time) {
	s.storeErrors.Add(1)
	last := s.lastLog.Load()
	if now.UnixNano()-last < int64(storeErrLogEvery) && last != 0 {
		return
	}
	if !s.lastLog.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if c := s.logger.Check(zap.WarnLevel, "rate limit store unavailable"); c != nil {
		c.Write(
			zap.String(logfield.Zone, s.name),
			zap.String(logfield.Reason, storeErrReason(err)),
			zap.Uint64(logfield.Count, s.storeErrors.Load()),
		)
	}
}

// storeErrReason names the failure without the error text, which for
// network errors carries addresses.
func storeErrReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errFull):
		return "key cap reached, every key blocked"
	case errors.Is(err, errPaused):
		return "paused after a failure"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "network"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	}
	return "error"
}

// Destruct stops the janitor; the pool calls it when no config uses the
// zone any more.
func (s *zoneState) Destruct() error {
	s.once.Do(func() {
		close(s.stop)
		liveStates.remove(s)
	})
	return nil
}

// janitor frees expired memory-store entries while the zone lives, so that
// memory returns even when traffic stops.
func (s *zoneState) janitor(every time.Duration, now func() time.Time) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mem.sweepAll(now())
		}
	}
}

// poolKey identifies the state a zone config may share with the previous
// config: same name, rule, store and secret.
func poolKey(z *ZoneConfig, secret string) string {
	fp := sha256.Sum256([]byte(secret))
	rule, _ := json.Marshal([]any{z.Name, z.Period, z.Requests, z.Block, z.Store, z.MaxKeys})
	return "picket_rate_limit:" + string(rule) + ":" + hex.EncodeToString(fp[:8])
}

// loadState returns the zone's pooled state, creating it if needed.
func loadState(
	z *ZoneConfig, secret string, pol policy, logger *zap.Logger, now func() time.Time,
) (*zoneState, error) {
	v, _, err := states.LoadOrNew(poolKey(z, secret), func() (caddy.Destructor, error) {
		var master []byte
		if secret != "" {
			master = []byte(secret)
		}
		s := &zoneState{
			name:   z.Name,
			keyer:  newKeyer(master),
			logger: logger,
			stop:   make(chan struct{}),
		}
		if z.Store == StoreMemory {
			s.mem = newMemStore(pol, z.MaxKeys)
			go s.janitor(max(time.Second, min(pol.period, time.Minute)), now)
		}
		liveStates.add(s)
		return s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("zone %q: %w", z.Name, err)
	}
	return v.(*zoneState), nil
}
