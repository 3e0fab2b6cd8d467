// Package ratelimit provides the picket_rate_limit handler: named zones with
// Cloudflare-style rules (period, requests per period, block duration,
// optional counting condition on the response status), stored in memory or
// shared through Redis, keyed by daily-rotating keyed hashes of the client
// identity instead of addresses. See docs/ratelimit.md.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/apierror"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler applies rate-limit zones to requests.
//
// Zones are checked in order. Each zone that applies to the request (its
// matchers and source filter) consults its store; the first refusal answers
// 429 and later zones are not consulted. Zones with a counting condition
// count after the response, if its status is listed.
type Handler struct {
	// Zones, checked in order.
	Zones []*ZoneConfig `json:"zones,omitempty"`

	// Secret from which the daily hashing secrets are derived; required
	// for Redis zones (every instance must hash alike). Placeholders are
	// expanded, e.g. {env.PICKET_RATE_LIMIT_SECRET}. Without it, memory
	// zones use random daily secrets that never leave the process.
	Secret string `json:"secret,omitempty"`

	// Redis connection for zones with store "redis".
	Redis *RedisConfig `json:"redis,omitempty"`

	// HandleErrors hands refusals to the server's handle_errors routes as
	// a handler error (status 429 or 503) instead of writing picket's JSON
	// error. The Retry-After and RateLimit headers are set either way.
	// Off by default: a handle_errors block that matches only other
	// statuses would otherwise turn refusals into bare responses.
	HandleErrors bool `json:"handle_errors,omitempty"`

	zones  []*zone
	rdb    *redis.Client
	pause  *pause
	now    func() time.Time
	logger *zap.Logger
	keys   []string // pool keys held, released in Cleanup
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_rate_limit",
		New: func() caddy.Module { return new(Handler) },
	}
}

// testClock replaces the wall clock in tests; with it, Redis scripts use
// the caller's time too.
var testClock func() time.Time

// Provision loads matchers, connects stores and takes the pooled zone state.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.now = time.Now
	if testClock != nil {
		h.now = testClock
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}

	repl := caddy.NewReplacer()
	secret := repl.ReplaceAll(h.Secret, "")
	for _, zc := range h.Zones {
		z, err := h.provisionZone(ctx, zc, secret, repl)
		if err != nil {
			return err
		}
		h.zones = append(h.zones, z)
	}
	return nil
}

func (h *Handler) provisionZone(
	ctx caddy.Context, zc *ZoneConfig, secret string, repl *caddy.Replacer,
) (*zone, error) {
	if zc.Store == "" {
		zc.Store = StoreMemory
	}
	if zc.OnStoreError == "" {
		zc.OnStoreError = FailClosed
	}
	z := &zone{
		cfg:      zc,
		pol:      policy{time.Duration(zc.Period), zc.Requests, time.Duration(zc.Block)},
		failOpen: zc.OnStoreError == FailOpen,
		count:    zc.CountStatus,
	}
	z.nameQ = strconv.Quote(zc.Name)
	z.policyH = fmt.Sprintf("%s;q=%d;w=%d", z.nameQ, zc.Requests,
		ceilSeconds(z.pol.period))

	if zc.MatcherSetsRaw != nil {
		mods, err := ctx.LoadModule(zc, "MatcherSetsRaw")
		if err != nil {
			return nil, fmt.Errorf("zone %q: loading matchers: %w", zc.Name, err)
		}
		if err := z.matchers.FromInterface(mods); err != nil {
			return nil, fmt.Errorf("zone %q: %w", zc.Name, err)
		}
	}
	if err := validateZone(zc, secret, h.Redis != nil); err != nil {
		return nil, err
	}

	st, err := loadState(zc, secret, z.pol, h.logger, h.now)
	if err != nil {
		return nil, err
	}
	h.keys = append(h.keys, poolKey(zc, secret))
	z.st = st

	if zc.Store == StoreRedis {
		if h.rdb == nil {
			h.rdb = h.Redis.client(repl)
			h.pause = new(pause)
		}
		rs := newRedisStore(h.rdb, h.Redis.Prefix, zc.Name, z.pol, testClock == nil)
		rs.pause = h.pause
		st.redis.Store(rs)
		z.store = rs
	} else {
		z.store = st.mem
	}
	return z, nil
}

var zoneName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateZone checks one zone; Provision calls it before taking pool state
// so that a bad zone never creates any.
func validateZone(zc *ZoneConfig, secret string, haveRedis bool) error {
	errf := func(format string, a ...any) error {
		return fmt.Errorf("zone %q: "+format, append([]any{zc.Name}, a...)...)
	}
	switch {
	case !zoneName.MatchString(zc.Name):
		return errf("name must be 1-64 letters, digits, '-' or '_'")
	case time.Duration(zc.Period) < time.Millisecond:
		return errf("period must be at least 1ms")
	case zc.Requests < 1:
		return errf("requests must be at least 1")
	case time.Duration(zc.Block) < time.Millisecond:
		return errf("block must be at least 1ms")
	case time.Duration(zc.Block) > 24*time.Hour:
		// keys rotate daily and only yesterday's is checked: a longer block
		// would end early at the second midnight
		return errf("block must be at most 24h")
	case zc.Store != StoreMemory && zc.Store != StoreRedis:
		return errf("unknown store %q", zc.Store)
	case zc.Store == StoreRedis && !haveRedis:
		return errf("store redis needs a redis connection")
	case zc.Store == StoreRedis && secret == "":
		return errf("store redis needs a secret shared by every instance")
	case zc.OnStoreError != FailClosed && zc.OnStoreError != FailOpen:
		return errf("on_store_error must be %s or %s", FailClosed, FailOpen)
	case zc.MaxKeys < 0:
		return errf("max_keys must not be negative")
	}
	switch zc.Source {
	case SourceAny, SourceClearnet, "onion", "cloudflare", "local":
	default:
		return errf("unknown source %q", zc.Source)
	}
	for _, s := range zc.CountStatus {
		if s < 100 || s > 599 {
			return errf("count_status %d is not an HTTP status", s)
		}
	}
	return nil
}

// Validate checks what Provision could not: duplicate zone names.
func (h *Handler) Validate() error {
	seen := make(map[string]bool, len(h.Zones))
	for _, zc := range h.Zones {
		if seen[zc.Name] {
			return fmt.Errorf("zone %q defined twice", zc.Name)
		}
		seen[zc.Name] = true
	}
	return nil
}

// Cleanup releases pooled zone state and the Redis connection.
func (h *Handler) Cleanup() error {
	for _, z := range h.zones {
		if rs, ok := z.store.(*redisStore); ok {
			z.st.redis.CompareAndSwap(rs, nil)
		}
	}
	for _, k := range h.keys {
		_, _ = states.Delete(k)
	}
	h.keys = nil
	if h.rdb != nil {
		err := h.rdb.Close()
		h.rdb = nil
		return err
	}
	return nil
}

// counted remembers a zone whose counting condition is checked after the
// response.
type counted struct {
	z *zone
	l lookup
}

// ServeHTTP decides, refuses or passes on, and counts afterwards where a
// counting condition applies.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	now := h.now()
	var after []counted
	var policyH, quotaH []byte
	for _, z := range h.zones {
		ok, err := z.applies(r)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		if !ok {
			continue
		}

		l := z.lookup(z.clientKey(r), now)
		d, answered := z.decide(r.Context(), l, now)
		if !d.allowed {
			return h.refuse(w, r, z, d, answered)
		}
		if answered {
			policyH = appendItem(policyH, z.policyH)
			quotaH = appendQuota(quotaH, z.nameQ, d.remaining, ceilSeconds(d.reset))
		}
		if len(z.count) > 0 {
			after = append(after, counted{z, l})
		}
	}
	if len(policyH) > 0 {
		hdr := w.Header()
		hdr[headerPolicy] = []string{string(policyH)}
		hdr[headerQuota] = []string{string(quotaH)}
	}
	if len(after) == 0 {
		return next.ServeHTTP(w, r)
	}
	return serveCounting(w, r, next, after, now)
}

// serveCounting passes the request on and counts it in the zones whose
// counting condition the response status meets.
func serveCounting(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler,
	after []counted, now time.Time,
) error {
	rec := &statusWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := next.ServeHTTP(rec, r)
	status := rec.status
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		status = he.StatusCode
	}
	if status == 0 && err == nil {
		status = http.StatusOK
	}
	// a client that hangs up once it has seen the status must still be
	// counted, so the count does not follow the request's cancellation.
	ctx := context.WithoutCancel(r.Context())
	for _, c := range after {
		if !c.z.countsStatus(status) {
			continue
		}
		if aerr := c.z.store.add(ctx, c.l, now); aerr != nil {
			c.z.st.storeFailed(aerr, now)
		}
	}
	return err
}

// errLimited is the handler error given to handle_errors routes.
var errLimited = errors.New("rate limited")

// refuse answers a refused request: 429 when a zone limits the client, 503
// when a fail_closed zone's store could not decide. With HandleErrors it
// returns a handler error so that the server's handle_errors routes render
// the response (the headers set here stay); otherwise it writes picket's
// JSON error.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, z *zone, d decision, answered bool) error {
	status, code, msg := http.StatusTooManyRequests, "rate_limited", "too many requests"
	retry := ceilSeconds(d.retry)
	hdr := w.Header()
	if answered {
		hdr[headerPolicy] = []string{z.policyH}
		hdr[headerQuota] = []string{string(appendQuota(nil, z.nameQ, 0, retry))}
	} else {
		status, code, msg = http.StatusServiceUnavailable, "rate_limit_unavailable",
			"temporarily unavailable"
		retry = 1
	}
	hdr.Set("Retry-After", strconv.FormatInt(retry, 10))

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		repl.Set("picket.rate_limit.zone", z.cfg.Name)
		repl.Set("picket.rate_limit.retry_after", retry)
	}
	if h.HandleErrors {
		return caddyhttp.Error(status, errLimited)
	}
	reqID := ""
	if repl != nil {
		reqID = repl.ReplaceAll("{http.request.uuid}", "")
	}
	apierror.Write(w, status, code, msg, reqID)
	return nil
}

// The RateLimit-Policy and RateLimit fields (IETF httpapi draft), in
// canonical form so that setting them needs no conversion.
const (
	headerPolicy = "Ratelimit-Policy"
	headerQuota  = "Ratelimit"
)

// appendItem adds a structured-field list item.
func appendItem(b []byte, item string) []byte {
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	return append(b, item...)
}

// appendQuota adds a RateLimit item: "<zone>";r=<remaining>;t=<seconds>.
func appendQuota(b []byte, nameQ string, remaining, reset int64) []byte {
	b = appendItem(b, nameQ)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, reset, 10)
}

// ceilSeconds rounds d up to whole seconds, at least one, so that a client
// that waits exactly that long is past the block.
func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// statusWriter records the status of the response for counting conditions.
type statusWriter struct {
	*caddyhttp.ResponseWriterWrapper
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriterWrapper.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriterWrapper.Write(b)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Destructor            = (*zoneState)(nil)
)
