package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

type row struct {
	t       target
	samples []sample
	med     struct{ rps, p50, p95, p99, cpu, mem float64 }
}

type report struct {
	o       options
	rows    []*row
	skipped []string
	started time.Time
	votes   *voteResult
}

func newReport(o options) *report { return &report{o: o, started: time.Now()} }

func (r *report) add(t target, s []sample) {
	rw := &row{t: t, samples: s}
	pick := func(f func(sample) float64) float64 {
		xs := make([]float64, len(s))
		for i, x := range s {
			xs[i] = f(x)
		}
		return median(xs)
	}
	rw.med.rps = pick(func(x sample) float64 { return x.RPS })
	rw.med.p50 = pick(func(x sample) float64 { return x.P50Micros })
	rw.med.p95 = pick(func(x sample) float64 { return x.P95Micros })
	rw.med.p99 = pick(func(x sample) float64 { return x.P99Micros })
	rw.med.cpu = pick(func(x sample) float64 { return x.cpuMicrosPerReq })
	rw.med.mem = pick(func(x sample) float64 { return x.peakMiB })
	r.rows = append(r.rows, rw)
}

func (r *report) find(name string) *row {
	for _, rw := range r.rows {
		if rw.t.name == name {
			return rw
		}
	}
	return nil
}

func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "## Gateway comparison (scripts/bench, %s)\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s; %d CPUs; %s; Go %s. Gateways pinned to CPU %q; "+
		"load generator and fixed origin share the other CPU(s).\n\n",
		cpuModel(), onlineCPUs(), kernel(), runtime.Version(), r.o.pin)
	fmt.Fprintf(w, "Each target: %d connections, 1 s warm-up, then %d runs of %s; the table shows medians.\n\n",
		r.o.conns, r.o.runs, r.o.time)
	fmt.Fprintln(w, "| target | req/s | p50 ms | p95 ms | p99 ms | CPU µs/req | peak RSS MiB |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, rw := range r.rows {
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.2f | %.1f | %.1f |\n", rw.t.title,
			rw.med.rps, rw.med.p50/1000, rw.med.p95/1000, rw.med.p99/1000, rw.med.cpu, rw.med.mem)
	}
	r.writeRatios(w)
	r.writeVotes(w)
	r.writeProfiles(w)
	if len(r.skipped) > 0 {
		fmt.Fprintf(w, "\nNot run: %s.\n", strings.Join(r.skipped, "; "))
	}
}

func (r *report) writeRatios(w io.Writer) {
	b := r.find("picket")
	if b == nil {
		return
	}
	fmt.Fprintln(w, "\n| ratio | throughput | p99 latency | CPU per request |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, other := range []struct{ name, label string }{
		{"stock", "b/a (picket / stock Caddy)"},
		{"nginx", "b/d (picket / nginx recipe)"},
		{"ratelimit", "b/e (picket / Caddy + caddy-ratelimit)"},
	} {
		o := r.find(other.name)
		if o == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f |\n", other.label,
			b.med.rps/o.med.rps, b.med.p99/o.med.p99, b.med.cpu/o.med.cpu)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

// onlineCPUs counts the machine's CPUs, not the ones this process is
// pinned to (runtime.NumCPU honours the affinity mask).
func onlineCPUs() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(b), "\nprocessor")
	if strings.HasPrefix(string(b), "processor") {
		n++
	}
	return n
}

func kernel() string {
	out, err := exec.Command("uname", "-sr").Output()
	if err != nil {
		return "unknown kernel"
	}
	return strings.TrimSpace(string(out))
}

func (r *report) writeVotes(w io.Writer) {
	v := r.votes
	if v == nil {
		return
	}
	fmt.Fprintf(w, "\n### Unlinkable votes through the edge\n\n")
	fmt.Fprintf(w, "%d prepared Mode B votes (3072-bit ballot key), each POSTed once to "+
		"`/ballots/{id}/vote` through (b) to the real origin on PostgreSQL, from 200 concurrent "+
		"keep-alive clients (connections opened before the timed run). The edge is pinned as "+
		"above; the origin, PostgreSQL and the load generator share the other CPU(s).\n\n", v.votes)
	fmt.Fprintln(w, "| votes/s | p50 ms | p95 ms | p99 ms | errors | non-2xx |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Fprintf(w, "| %.0f | %.1f | %.1f | %.1f | %d | %d |\n", v.RPS, v.P50Micros/1000,
		v.P95Micros/1000, v.P99Micros/1000, v.Errors, v.Non2xx)
}

func (r *report) writeProfiles(w io.Writer) {
	for _, rw := range r.rows {
		last := rw.samples[len(rw.samples)-1]
		if last.profile == "" {
			continue
		}
		fmt.Fprintf(w, "\n### Where the CPU goes: %s\n\n", rw.t.title)
		fmt.Fprintln(w, "`go tool pprof -top -cum` of a CPU profile taken through Caddy's admin API during the last run:")
		fmt.Fprintf(w, "\n```\n%s\n```\n", last.profile)
	}
}
