// Command benchrun drives scripts/bench: it starts each gateway in turn in
// front of the same fixed origin, loads it with the same closed-loop
// generator, measures throughput, latency, CPU per request and peak memory,
// and writes a markdown report. Every listener and every request stays on
// loopback.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/picket-edge/picket/bench/internal/load"
)

type options struct {
	work    string
	out     string
	runs    int
	time    time.Duration
	conns   int
	pin     string
	only    map[string]bool
	bins    map[string]string
	realAPI string
	repo    string
	votes   string
	ballot  string
}

func main() {
	var o options
	var only string
	o.bins = map[string]string{}
	flag.StringVar(&o.work, "work", "", "working directory for configs and certificates")
	flag.StringVar(&o.out, "out", "", "markdown report to write (default stdout)")
	flag.IntVar(&o.runs, "runs", 3, "runs per target; medians are reported")
	flag.DurationVar(&o.time, "time", 5*time.Second, "duration of each run")
	flag.IntVar(&o.conns, "c", 32, "concurrent connections")
	flag.StringVar(&o.pin, "server-cpus", "", "taskset CPU list for the gateways (empty: no pinning)")
	flag.StringVar(&only, "only", "", "comma-separated target names to run (default all that have binaries)")
	for _, name := range []string{"stock", "picket", "nginx", "ratelimit"} {
		flag.Func(name, "binary for target "+name, func(s string) error {
			abs, err := filepath.Abs(s)
			o.bins[name] = abs
			return err
		})
	}
	flag.StringVar(&o.realAPI, "real-origin", "", "address of a running picket origin for the realistic response")
	flag.StringVar(&o.repo, "repo", "", "picket checkout (default: the working directory)")
	flag.StringVar(&o.votes, "votes", "", "file of prepared vote bodies (origin/cmd/ballotmint), one per line")
	flag.StringVar(&o.ballot, "ballot", "", "the ballot the votes are for")
	flag.Parse()
	o.only = splitSet(only)
	if o.work == "" {
		log.Fatal("benchrun: -work is required")
	}
	if err := os.MkdirAll(o.work, 0o700); err != nil {
		log.Fatal(err)
	}
	log.SetFlags(0)
	log.SetPrefix("benchrun: ")

	rep, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	var w io.Writer = os.Stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = f
	}
	rep.write(w)
}

func run(o options) (*report, error) {
	certs, err := makePKI(o.work)
	if err != nil {
		return nil, fmt.Errorf("making certificates: %w", err)
	}
	originAddr, err := startFixedOrigin()
	if err != nil {
		return nil, err
	}
	rep := newReport(o)
	all := targets(o, certs, originAddr)
	if o.realAPI != "" {
		all = append(all, originTargets(o, certs)...)
	}
	for _, t := range all {
		if len(o.only) > 0 && !o.only[t.name] {
			continue
		}
		if t.bin == "" {
			rep.skipped = append(rep.skipped, t.name+" (no binary given)")
			continue
		}
		log.Printf("%s: %s", t.name, t.title)
		res, err := measure(o, t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		rep.add(t, res)
	}
	if o.votes != "" && o.realAPI != "" && o.bins["picket"] != "" {
		v, err := voteRun(o, certs)
		if err != nil {
			return nil, fmt.Errorf("votes: %w", err)
		}
		rep.votes = v
	}
	return rep, nil
}

// startFixedOrigin serves the small fixed response in this process.
func startFixedOrigin() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	body := []byte(`{"union":"example","members":1234,"posts":56,"ballots":[{"id":"b1","open":true}]}` + "\n")
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}))
	}()
	return l.Addr().String(), nil
}

// sample is one run of one target.
type sample struct {
	load.Result
	cpuMicrosPerReq float64
	peakMiB         float64
	profile         string // pprof -top of the gateway during this run, if taken
}

func measure(o options, t target) ([]sample, error) {
	proc, err := t.start(o)
	if err != nil {
		return nil, err
	}
	defer proc.stop()

	cfg := t.load
	cfg.Conns, cfg.Time = o.conns, time.Second
	if _, err := load.Run(cfg); err != nil { // warm-up
		return nil, err
	}
	var out []sample
	for i := range o.runs {
		cfg.Time = o.time
		var prof chan string
		if t.profile && i == o.runs-1 {
			prof = make(chan string, 1)
			go func() { prof <- cpuProfile(o, t) }()
		}
		before := cpuSeconds(proc.pid())
		res, err := load.Run(cfg)
		top := ""
		if prof != nil {
			top = <-prof
		}
		if err != nil {
			return nil, err
		}
		used := cpuSeconds(proc.pid()) - before
		if res.Requests == 0 || res.Errors > res.Requests/100 || res.Non2xx > 0 {
			return nil, fmt.Errorf("run %d: %d requests, %d errors (%s), %d non-2xx",
				i+1, res.Requests, res.Errors, res.FirstError, res.Non2xx)
		}
		s := sample{Result: res, peakMiB: peakRSSMiB(proc.pid()), profile: top}
		s.cpuMicrosPerReq = used * 1e6 / float64(res.Requests)
		log.Printf("  run %d: %.0f req/s, p99 %.2f ms", i+1, res.RPS, res.P99Micros/1000)
		out = append(out, s)
	}
	return out, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func splitSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}
