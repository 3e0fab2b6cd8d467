package ratelimit

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// liveStates is the set of zone states in use, which the metrics collector
// and the admin API read.
var liveStates = &stateSet{m: make(map[*zoneState]struct{})}

type stateSet struct {
	mu sync.Mutex
	m  map[*zoneState]struct{}
}

func (s *stateSet) add(z *zoneState) {
	s.mu.Lock()
	s.m[z] = struct{}{}
	s.mu.Unlock()
}

func (s *stateSet) remove(z *zoneState) {
	s.mu.Lock()
	delete(s.m, z)
	s.mu.Unlock()
}

func (s *stateSet) list() []*zoneState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*zoneState, 0, len(s.m))
	for z := range s.m {
		out = append(out, z)
	}
	return out
}

var (
	descDecisions = prometheus.NewDesc(
		"picket_rate_limit_decisions_total",
		"Rate-limit decisions per zone. result: allowed, limited (crossed the"+
			" limit, block starts), blocked (refused during a block).",
		[]string{"zone", "result"}, nil)
	descStoreErrors = prometheus.NewDesc(
		"picket_rate_limit_store_errors_total",
		"Decisions the zone's store could not make (the zone's on_store_error applied).",
		[]string{"zone"}, nil)
	descTracked = prometheus.NewDesc(
		"picket_rate_limit_tracked_keys",
		"Keys a memory-store zone currently tracks.",
		[]string{"zone"}, nil)
)

// collector reports every live zone. Counters live in the pooled zone state,
// so they survive config reloads; zones sharing a name are summed.
type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDecisions
	ch <- descStoreErrors
	ch <- descTracked
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	type sums struct {
		allowed, limited, blocked, errs uint64
		tracked                         int
		mem                             bool
	}
	by := make(map[string]*sums)
	for _, z := range liveStates.list() {
		s := by[z.name]
		if s == nil {
			s = new(sums)
			by[z.name] = s
		}
		s.allowed += z.allowed.Load()
		s.limited += z.limited.Load()
		s.blocked += z.blocked.Load()
		s.errs += z.storeErrors.Load()
		if z.mem != nil {
			s.mem = true
			s.tracked += z.mem.tracked()
		}
	}
	for name, s := range by {
		c := prometheus.CounterValue
		ch <- prometheus.MustNewConstMetric(descDecisions, c, float64(s.allowed), name, "allowed")
		ch <- prometheus.MustNewConstMetric(descDecisions, c, float64(s.limited), name, "limited")
		ch <- prometheus.MustNewConstMetric(descDecisions, c, float64(s.blocked), name, "blocked")
		ch <- prometheus.MustNewConstMetric(descStoreErrors, c, float64(s.errs), name)
		if s.mem {
			ch <- prometheus.MustNewConstMetric(descTracked, prometheus.GaugeValue,
				float64(s.tracked), name)
		}
	}
}

// registerMetrics adds the collector to a config's registry once.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(collector{})
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return nil
	}
	return err
}
