// Package load is a closed-loop HTTP load generator: a fixed number of
// connections each send the next request as soon as the previous answer is
// read, for a fixed time, and every latency is kept for the percentiles.
//
// It refuses targets that are not on loopback.
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	URL     string
	Method  string
	Header  http.Header
	Conns   int
	Time    time.Duration
	TLS     *tls.Config
	HTTP2   bool
	Timeout time.Duration

	// Bodies, when set, are sent in turn, each once; the run ends when they
	// are used up or Time has passed, whichever comes first.
	Bodies [][]byte

	// Prime, when set, is a URL each connection GETs once before the timed
	// run, so that connection set-up (TLS handshakes) is not measured.
	Prime string

	// Unix, when set, is a socket path dialled instead of the URL's host.
	Unix string
	// Preamble, when set, is written first on every new connection (e.g.
	// the PROXY line tor sends an onion service); n counts connections.
	Preamble func(n int) string
}

// Result is what a run measured.
type Result struct {
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Non2xx     int     `json:"non_2xx"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50Micros  float64 `json:"p50_us"`
	P95Micros  float64 `json:"p95_us"`
	P99Micros  float64 `json:"p99_us"`
	FirstError string  `json:"first_error,omitempty"`
}

// RequireLoopback refuses every host that is not a loopback address or the
// name localhost.
func RequireLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("target %q is not a full URL", rawURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not a loopback address", host)
	}
	return nil
}

// TLSConfig builds a client TLS configuration from PEM files; any may be "".
func TLSConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no certificate found", caFile)
		}
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// Run performs one load run.
func Run(cfg Config) (Result, error) {
	if cfg.Unix == "" {
		if err := RequireLoopback(cfg.URL); err != nil {
			return Result{}, err
		}
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg.TLS,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		DisableCompression:  true,
		ForceAttemptHTTP2:   cfg.HTTP2,
	}
	if !cfg.HTTP2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if cfg.Unix != "" {
		tr.DialContext = unixDialer(cfg.Unix, cfg.Preamble)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	if cfg.Prime != "" {
		if err := prime(client, cfg); err != nil {
			return Result{}, err
		}
	}
	return run(client, cfg), nil
}

// prime opens cfg.Conns connections at once with one GET each.
func prime(client *http.Client, cfg Config) error {
	errs := make(chan error, cfg.Conns)
	for range cfg.Conns {
		go func() {
			req, err := http.NewRequest(http.MethodGet, cfg.Prime, nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range cfg.Conns {
		if err := <-errs; err != nil {
			return fmt.Errorf("priming connections: %w", err)
		}
	}
	return nil
}

// unixDialer dials a unix socket and writes the preamble, if any.
func unixDialer(path string, preamble func(int) string) func(context.Context, string, string) (net.Conn, error) {
	var mu sync.Mutex
	n := 0
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil || preamble == nil {
			return c, err
		}
		mu.Lock()
		n++
		line := preamble(n)
		mu.Unlock()
		if _, err := io.WriteString(c, line); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

type worker struct {
	lat     []time.Duration
	errs    int
	non2xx  int
	errText string
}

func run(client *http.Client, cfg Config) Result {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Time)
	defer cancel()

	workers := make([]worker, cfg.Conns)
	var next atomic.Int64
	body := func() ([]byte, bool) {
		if cfg.Bodies == nil {
			return nil, true
		}
		i := next.Add(1) - 1
		if i >= int64(len(cfg.Bodies)) {
			return nil, false
		}
		return cfg.Bodies[i], true
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.lat = make([]time.Duration, 0, 8192)
			for ctx.Err() == nil {
				b, more := body()
				if !more {
					break
				}
				t0 := time.Now()
				status, err := once(ctx, client, cfg, b)
				if ctx.Err() != nil {
					break // a request cut by the end of the run is not counted
				}
				switch {
				case err != nil:
					w.errs++
					if w.errText == "" {
						w.errText = err.Error()
					}
				case status < 200 || status > 299:
					w.non2xx++
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}(&workers[i])
	}
	wg.Wait()
	return summarise(workers, time.Since(start))
}

func summarise(workers []worker, elapsed time.Duration) Result {
	var res Result
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errs
		res.Non2xx += w.non2xx
		if res.FirstError == "" {
			res.FirstError = w.errText
		}
	}
	slices.Sort(all)
	res.Requests = len(all)
	res.Seconds = elapsed.Seconds()
	res.RPS = float64(len(all)) / res.Seconds
	res.P50Micros = percentile(all, 0.50)
	res.P95Micros = percentile(all, 0.95)
	res.P99Micros = percentile(all, 0.99)
	return res
}

func once(ctx context.Context, client *http.Client, cfg Config, body []byte) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range cfg.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Nanoseconds()) / 1e3
}

// ParseHeaders turns "Name: value" strings into a header.
func ParseHeaders(lines []string) http.Header {
	h := make(http.Header)
	for _, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}
