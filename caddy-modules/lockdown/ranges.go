package lockdown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/cloudflare/cloudflare-go"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/logfield"
)

func init() {
	caddy.RegisterModule(Cloudflare{})
}

// AppName is the Caddy app that holds the Cloudflare range list.
const AppName = "picket_cloudflare"

// Defaults for the range source.
const (
	DefaultAPIBaseURL      = "https://api.cloudflare.com/client/v4"
	DefaultRefreshInterval = 24 * time.Hour
	defaultFetchTimeout    = 30 * time.Second
	retryAfterFailure      = 15 * time.Minute
	storageKey             = "picket/lockdown/cloudflare_ranges.json"
)

// Results of a range refresh, the "result" label of the refresh metric.
const (
	resultOK          = "ok"
	resultFetchFailed = "fetch_failed"
	resultInvalid     = "invalid"
	resultEmpty       = "empty"
	resultNoIPv4      = "no_ipv4"
	resultNoIPv6      = "no_ipv6"
	resultShrunk      = "shrunk"
	resultCanceled    = "canceled" // never counted
)

// rangePool keeps fetched lists and their refresh loops across config
// reloads, keyed by the fetch settings.
var rangePool = caddy.NewUsagePool()

// Cloudflare is the picket_cloudflare app: the one list of Cloudflare edge
// ranges that admission, the client IP handler and trusted_proxies share.
//
// With no configuration it starts from the compiled-in snapshot (or the last
// good list in Caddy's storage) and refreshes from Cloudflare's API every 24
// hours. A fetch that fails, returns garbage or nothing, drops every IPv4 or
// IPv6 range, or shrinks the list by more than half is rejected: the previous
// list stays in force, a warning is logged and the refresh metric counts it.
type Cloudflare struct {
	// Base URL of Cloudflare's v4 API; the ranges are read from <base>/ips.
	// Tests and development point it at a local stand-in.
	APIBaseURL string `json:"api_base_url,omitempty"`

	// How often to refresh. Default 24h.
	RefreshInterval caddy.Duration `json:"refresh_interval,omitempty"`

	// Time limit for one fetch. Default 30s.
	FetchTimeout caddy.Duration `json:"fetch_timeout,omitempty"`

	// Static replaces Cloudflare's list with these CIDRs and turns fetching
	// off. For development (a local edge stand-in) and tests only.
	Static []string `json:"static,omitempty"`

	// NoFetch keeps the stored or compiled-in list and never calls the API.
	NoFetch bool `json:"no_fetch,omitempty"`

	src    *rangeSource
	key    string
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Cloudflare) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  AppName,
		New: func() caddy.Module { return new(Cloudflare) },
	}
}

// Provision sets defaults and loads the shared range source.
func (c *Cloudflare) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if c.APIBaseURL == "" {
		c.APIBaseURL = DefaultAPIBaseURL
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = caddy.Duration(DefaultRefreshInterval)
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = caddy.Duration(defaultFetchTimeout)
	}

	if len(c.Static) > 0 {
		set, err := parsePrefixes(c.Static)
		if err != nil {
			return fmt.Errorf("parsing static ranges: %w", err)
		}
		c.src = &rangeSource{logger: c.logger}
		c.src.cur.Store(newRangeState(set, time.Time{}))
		c.logger.Warn("cloudflare ranges replaced by a static list; for development only",
			zap.Int(logfield.Count, len(set)))
		return nil
	}

	c.key = fmt.Sprintf("%s|%s|%s|%t", c.APIBaseURL,
		time.Duration(c.RefreshInterval), time.Duration(c.FetchTimeout), c.NoFetch)
	v, _, err := rangePool.LoadOrNew(c.key, func() (caddy.Destructor, error) {
		return c.newSource(ctx)
	})
	if err != nil {
		return err
	}
	c.src = v.(*rangeSource)
	return nil
}

func (c *Cloudflare) newSource(ctx caddy.Context) (*rangeSource, error) {
	s := &rangeSource{
		storage:  ctx.Storage(),
		logger:   c.logger,
		interval: time.Duration(c.RefreshInterval),
		timeout:  time.Duration(c.FetchTimeout),
		now:      time.Now,
	}
	if !c.NoFetch {
		f, err := newAPIFetcher(c.APIBaseURL)
		if err != nil {
			return nil, err
		}
		s.fetch = f.fetch
	}
	s.loadInitial(ctx)
	return s, nil
}

// Validate checks the configuration.
func (c *Cloudflare) Validate() error {
	if len(c.Static) > 0 && c.NoFetch {
		return errors.New("static and no_fetch are exclusive: static never fetches")
	}
	return nil
}

// Start begins the refresh loop (once per shared source).
func (c *Cloudflare) Start() error {
	c.src.start()
	return nil
}

// Stop does nothing: the refresh loop belongs to the shared source, which
// ends when the last config using it is cleaned up.
func (c *Cloudflare) Stop() error { return nil }

// Cleanup releases the shared source.
func (c *Cloudflare) Cleanup() error {
	if c.key == "" {
		return nil
	}
	_, err := rangePool.Delete(c.key)
	c.key = ""
	return err
}

// Contains reports whether ip is in Cloudflare's list.
func (c *Cloudflare) Contains(ip netip.Addr) bool {
	return c.src.cur.Load().set.contains(ip)
}

// prefixes returns the list for trusted_proxies: each IPv4 range also in its
// IPv4-mapped IPv6 form, so Caddy matches mapped peers too.
func (c *Cloudflare) prefixes() []netip.Prefix {
	return c.src.cur.Load().withMapped
}

// cloudflareApp fetches the app from ctx, provisioning it if needed.
func cloudflareApp(ctx caddy.Context) (*Cloudflare, error) {
	a, err := ctx.App(AppName)
	if err != nil {
		return nil, fmt.Errorf("loading %s app: %w", AppName, err)
	}
	return a.(*Cloudflare), nil
}

// rangeState is one list in force. It is never modified once stored.
type rangeState struct {
	set        prefixSet
	withMapped []netip.Prefix
	v4, v6     int
	fetchedAt  time.Time
}

func newRangeState(set []netip.Prefix, fetchedAt time.Time) *rangeState {
	st := &rangeState{set: set, fetchedAt: fetchedAt}
	for _, p := range set {
		st.withMapped = append(st.withMapped, p)
		if p.Addr().Is4() {
			st.v4++
			a16 := netip.AddrFrom16(p.Addr().As16())
			st.withMapped = append(st.withMapped, netip.PrefixFrom(a16, p.Bits()+96))
		} else {
			st.v6++
		}
	}
	return st
}

// rangeSource holds the current list and refreshes it.
type rangeSource struct {
	cur      atomic.Pointer[rangeState]
	fetch    func(context.Context) (v4, v6 []string, err error)
	storage  certmagic.Storage
	logger   *zap.Logger
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time

	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
}

// storedRanges is the storage document of the last good list.
type storedRanges struct {
	IPv4      []string  `json:"ipv4_cidrs"`
	IPv6      []string  `json:"ipv6_cidrs"`
	FetchedAt time.Time `json:"fetched_at"`
}

// loadInitial puts the stored list in force if it is sound, the snapshot
// otherwise.
func (s *rangeSource) loadInitial(ctx context.Context) {
	if s.storage != nil {
		if st, ok := s.loadStored(ctx); ok {
			s.install(st)
			return
		}
	}
	set, err := parsePrefixes(append(append([]string(nil), snapshotIPv4...), snapshotIPv6...))
	if err != nil {
		panic("BUG: compiled-in cloudflare snapshot does not parse: " + err.Error())
	}
	s.install(newRangeState(set, time.Time{}))
}

func (s *rangeSource) loadStored(ctx context.Context) (*rangeState, bool) {
	b, err := s.storage.Load(ctx, storageKey)
	if err != nil {
		return nil, false
	}
	var doc storedRanges
	if err := json.Unmarshal(b, &doc); err != nil {
		s.logger.Warn("stored cloudflare ranges unreadable; using snapshot", zap.Error(err))
		return nil, false
	}
	st, result := judge(nil, doc.IPv4, doc.IPv6)
	if result != resultOK {
		s.logger.Warn("stored cloudflare ranges rejected; using snapshot",
			zap.String(logfield.Reason, result))
		return nil, false
	}
	st.fetchedAt = doc.FetchedAt
	return st, true
}

func (s *rangeSource) install(st *rangeState) {
	s.cur.Store(st)
	rangeCount.WithLabelValues("ipv4").Set(float64(st.v4))
	rangeCount.WithLabelValues("ipv6").Set(float64(st.v6))
}

// start launches the refresh loop once. A source without a fetcher has none.
func (s *rangeSource) start() {
	if s.fetch == nil {
		return
	}
	s.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.done = make(chan struct{})
		go s.run(ctx)
	})
}

func (s *rangeSource) run(ctx context.Context) {
	defer close(s.done)
	delay := s.firstDelay()
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = s.interval
		if s.refresh(ctx) != resultOK {
			delay = min(s.interval, retryAfterFailure)
		}
	}
}

// firstDelay waits out the rest of the interval of a stored list, and
// fetches at once when only the snapshot is in force.
func (s *rangeSource) firstDelay() time.Duration {
	at := s.cur.Load().fetchedAt
	if at.IsZero() {
		return 0
	}
	return min(max(s.interval-s.now().Sub(at), 0), s.interval)
}

// Destruct ends the refresh loop; it is called when no config uses the
// source any more.
func (s *rangeSource) Destruct() error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	return nil
}

// refresh fetches once and installs the result if it is sound. It returns
// the result label that the metric counted.
func (s *rangeSource) refresh(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	v4, v6, err := s.fetch(ctx)
	if err != nil && errors.Is(err, context.Canceled) {
		// shutting down: not a failed fetch.
		return resultCanceled
	}
	if err != nil {
		result := resultFetchFailed
		if errors.Is(err, errGarbage) {
			result = resultInvalid
		}
		s.reject(result, err)
		return result
	}
	prev := s.cur.Load()
	st, result := judge(prev, v4, v6)
	if result != resultOK {
		s.reject(result, nil)
		return result
	}

	st.fetchedAt = s.now()
	s.install(st)
	rangeRefreshTotal.WithLabelValues(resultOK).Inc()
	s.persist(ctx, v4, v6, st.fetchedAt)
	return resultOK
}

func (s *rangeSource) reject(result string, err error) {
	rangeRefreshTotal.WithLabelValues(result).Inc()
	prev := s.cur.Load()
	fields := []zap.Field{
		zap.String(logfield.Reason, result),
		zap.Int(logfield.Count, len(prev.set)),
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	s.logger.Warn("cloudflare range refresh rejected; previous list stays in force", fields...)
}

func (s *rangeSource) persist(ctx context.Context, v4, v6 []string, at time.Time) {
	if s.storage == nil {
		return
	}
	b, err := json.Marshal(storedRanges{IPv4: v4, IPv6: v6, FetchedAt: at})
	if err == nil {
		err = s.storage.Store(ctx, storageKey, b)
	}
	if err != nil {
		s.logger.Warn("storing cloudflare ranges", zap.Error(err))
	}
}

// judge parses a fetched list and decides whether it may replace prev.
func judge(prev *rangeState, v4, v6 []string) (*rangeState, string) {
	if len(v4)+len(v6) == 0 {
		return nil, resultEmpty
	}
	set := make([]netip.Prefix, 0, len(v4)+len(v6))
	for _, fam := range []struct {
		list []string
		is4  bool
		min  int
	}{{v4, true, 12}, {v6, false, 29}} {
		for _, s := range fam.list {
			p, err := parsePrefix(s)
			// a prefix in the wrong family or wider than any Cloudflare
			// allocation (their widest are /13 and /29) would admit far too
			// much: treat it as garbage.
			if err != nil || p.Addr().Is4() != fam.is4 || p.Bits() < fam.min {
				return nil, resultInvalid
			}
			set = append(set, p)
		}
	}
	switch {
	case len(v4) == 0:
		return nil, resultNoIPv4
	case len(v6) == 0:
		return nil, resultNoIPv6
	case prev != nil && len(set)*2 <= len(prev.set):
		return nil, resultShrunk
	}
	return newRangeState(set, time.Time{}), resultOK
}

// errGarbage marks an answer that arrived but could not be understood.
var errGarbage = errors.New("unreadable answer")

// apiFetcher reads the ranges through cloudflare-go.
type apiFetcher struct {
	api *cloudflare.API
}

// newAPIFetcher builds a client for base. cloudflare-go's IPs() always calls
// the public API URL, so the fetcher uses a client with a BaseURL and asks
// for /ips itself; the endpoint needs no credentials, so none are sent.
func newAPIFetcher(base string) (*apiFetcher, error) {
	api, err := cloudflare.NewWithAPIToken("unused",
		cloudflare.BaseURL(strings.TrimSuffix(base, "/")),
		cloudflare.UserAgent("picket"),
		cloudflare.UsingRetryPolicy(0, 0, 0),
		cloudflare.HTTPClient(&http.Client{}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating cloudflare client: %w", err)
	}
	api.SetAuthType(0)
	return &apiFetcher{api: api}, nil
}

func (f *apiFetcher) fetch(ctx context.Context) (v4, v6 []string, err error) {
	raw, err := f.api.Raw(ctx, http.MethodGet, "/ips", nil, nil)
	if err != nil {
		if strings.Contains(err.Error(), "unmarshal") {
			return nil, nil, fmt.Errorf("fetching cloudflare ranges: %w: %w", errGarbage, err)
		}
		return nil, nil, fmt.Errorf("fetching cloudflare ranges: %w", err)
	}
	if !raw.Success {
		return nil, nil, errors.New("fetching cloudflare ranges: api reported failure")
	}
	var res cloudflare.IPRangesResponse
	if err := json.Unmarshal(raw.Result, &res); err != nil {
		return nil, nil, fmt.Errorf("decoding cloudflare ranges: %w: %w", errGarbage, err)
	}
	return res.IPv4CIDRs, res.IPv6CIDRs, nil
}

// Interface guards
var (
	_ caddy.App          = (*Cloudflare)(nil)
	_ caddy.Provisioner  = (*Cloudflare)(nil)
	_ caddy.Validator    = (*Cloudflare)(nil)
	_ caddy.CleanerUpper = (*Cloudflare)(nil)
	_ caddy.Destructor   = (*rangeSource)(nil)
)
