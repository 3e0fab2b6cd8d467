// Command ballotmint prepares load for the vote route: against a running
// origin (or the edge in front of it, loopback only) it signs up members
// with a software passkey, makes a union and an unlinkable ballot, issues
// one token per member and writes each finalised vote as one JSON line,
// ready to POST to /ballots/{id}/vote. It is a benchmark tool, not part of
// the product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/picket-edge/picket/internal/webauthntest"
	"github.com/picket-edge/picket/origin/ballotclient"
	"github.com/picket-edge/picket/origin/internal/accounts"
)

type config struct {
	base, origin, out, ca, sni string
	n, workers                 int
	runningTally, spread       bool
	tls                        *tls.Config
}

func main() {
	var c config
	flag.StringVar(&c.base, "url", "", "origin or edge base URL (loopback only)")
	flag.StringVar(&c.origin, "webauthn-origin", "https://localhost",
		"origin the server accepts in clientDataJSON (PICKET_WEBAUTHN_ORIGINS)")
	flag.StringVar(&c.out, "out", "votes.jsonl", "file for the vote bodies, one per line")
	flag.StringVar(&c.ca, "ca", "", "PEM of the CA that signed the server certificate")
	flag.StringVar(&c.sni, "sni", "", "TLS server name (default: the URL host)")
	flag.IntVar(&c.n, "n", 200, "number of votes (one member each)")
	flag.IntVar(&c.workers, "workers", 4, "members signed up at once")
	flag.BoolVar(&c.runningTally, "running-tally", false, "make the ballot show its tally while open")
	flag.BoolVar(&c.spread, "spread-sources", false,
		"send each member's requests from its own loopback address (127.0.x.y), as distinct "+
			"clients behind the edge's per-address rate limits")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "ballotmint:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	hc, err := httpClient(&c)
	if err != nil {
		return err
	}
	m := &minter{cfg: c, http: hc, client: &ballotclient.Client{BaseURL: c.base, HTTP: hc}}
	if c.spread {
		m.http = m.member(c.n).HTTP
	}
	admin, err := m.signUp(ctx, m.http, "ballotmint admin")
	if err != nil {
		return err
	}
	slug := "bench-" + accounts.NewID()[:8]
	if err := m.post(ctx, m.http, admin, "/unions", map[string]string{"slug": slug, "name": "Bench"}, nil); err != nil {
		return fmt.Errorf("creating union: %w", err)
	}
	var created struct {
		ID string `json:"id"`
	}
	err = m.post(ctx, m.http, admin, "/ballots", map[string]any{
		"union": slug, "question": "Benchmark ballot", "options": []string{"yes", "no"},
		"mode": "unlinkable", "closes_at": time.Now().Add(24 * time.Hour),
		"running_tally": c.runningTally,
	}, &created)
	if err != nil {
		return fmt.Errorf("creating ballot: %w", err)
	}
	b, err := m.client.Ballot(ctx, created.ID)
	if err != nil {
		return err
	}
	votes, err := m.votes(ctx, b, slug)
	if err != nil {
		return err
	}
	if err := writeLines(c.out, votes); err != nil {
		return err
	}
	fmt.Printf("ballot %s: %d votes in %s; POST each line to /ballots/%s/vote\n",
		b.ID, len(votes), c.out, b.ID)
	return nil
}

type minter struct {
	cfg    config
	http   *http.Client
	client *ballotclient.Client
}

// votes signs up n members in parallel, each joining and taking a token.
func (m *minter) votes(ctx context.Context, b *ballotclient.Ballot, slug string) ([][]byte, error) {
	var (
		mu    sync.Mutex
		out   [][]byte
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range m.cfg.workers {
		wg.Go(func() {
			for i := range next {
				body, err := m.vote(ctx, b, slug, i)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					out = append(out, body)
				}
				mu.Unlock()
			}
		})
	}
	for i := range m.cfg.n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, first
}

func (m *minter) vote(ctx context.Context, b *ballotclient.Ballot, slug string, i int) ([]byte, error) {
	c := m.client
	if m.cfg.spread {
		c = m.member(i)
	}
	session, err := m.signUp(ctx, c.HTTP, fmt.Sprintf("member %d", i))
	if err != nil {
		return nil, err
	}
	if err := m.post(ctx, c.HTTP, session, "/unions/"+slug+"/join", nil, nil); err != nil {
		return nil, fmt.Errorf("joining: %w", err)
	}
	v, err := c.Token(ctx, session, b, i%len(b.Options))
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return v.Body(), nil
}

// member is a client whose connections come from loopback address number
// i: 127.0.10.1, 127.0.10.2, ... (Linux answers on all of 127.0.0.0/8).
func (m *minter) member(i int) *ballotclient.Client {
	src := net.IPv4(127, 0, byte(10+i/250), byte(1+i%250))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: m.cfg.tls,
	}}
	return &ballotclient.Client{BaseURL: m.cfg.base, HTTP: hc}
}

// signUp registers an account with a fresh software passkey.
func (m *minter) signUp(ctx context.Context, hc *http.Client, pseudonym string) (string, error) {
	var begun struct {
		CeremonyID string          `json:"ceremony_id"`
		Options    json.RawMessage `json:"options"`
	}
	err := m.post(ctx, hc, "", "/auth/webauthn/register/begin", map[string]string{"pseudonym": pseudonym}, &begun)
	if err != nil {
		return "", fmt.Errorf("sign-up begin: %w", err)
	}
	auth := &webauthntest.Authenticator{Origin: m.cfg.origin}
	cred, _, err := auth.Create(begun.Options)
	if err != nil {
		return "", err
	}
	var s struct {
		Token string `json:"token"`
	}
	err = m.post(ctx, hc, "", "/auth/webauthn/register/finish",
		map[string]any{"ceremony_id": begun.CeremonyID, "credential": json.RawMessage(cred)}, &s)
	if err != nil {
		return "", fmt.Errorf("sign-up finish: %w", err)
	}
	return s.Token, nil
}

func (m *minter) post(ctx context.Context, hc *http.Client, session, path string, body, out any,
) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.cfg.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// httpClient refuses any target but loopback.
func httpClient(c *config) (*http.Client, error) {
	u, err := url.Parse(c.base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want a base URL", c.base)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-url %q: loopback only", c.base)
	}
	tc := &tls.Config{ServerName: c.sni}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca %s: no certificate", c.ca)
		}
		tc.RootCAs = pool
	}
	c.tls = tc
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: c.workers},
	}, nil
}

func writeLines(path string, lines [][]byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.Write(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
