package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/ballotclient"
	"github.com/picket-edge/picket/origin/internal/ballots"
)

// BenchmarkRequests measures whole requests over loopback against real
// PostgreSQL: a static page, a membership check (keyed hash plus lookup)
// and a full passkey login (two round trips, signature check, session).
func BenchmarkRequests(b *testing.B) {
	h := newHarness(b, map[string]*pgtest.Cluster{"": pgtest.Start(b)})
	auth := newAuthenticator()
	token := h.signUp(b, auth, "Bench")
	h.call(b, "POST", "/unions", token, map[string]string{"slug": "bench", "name": "Bench"}, nil)

	b.Run("GET /privacy json", func(b *testing.B) {
		for b.Loop() {
			if r := h.do(b, "GET", "/privacy", map[string]string{"Accept": "application/json"}, nil); r.status != 200 {
				b.Fatal(r.status)
			}
		}
	})
	b.Run("GET /unions/{slug}/membership", func(b *testing.B) {
		for b.Loop() {
			if r := h.call(b, "GET", "/unions/bench/membership", token, nil, nil); r.status != http.StatusOK {
				b.Fatal(r.status)
			}
		}
	})
	b.Run("passkey login", func(b *testing.B) {
		for b.Loop() {
			if r := h.logIn(b, auth, nil); r.status != http.StatusOK {
				b.Fatal(r.status)
			}
		}
	})
}

// BenchmarkBallotRequests measures the ballot routes over loopback HTTP on
// real PostgreSQL with a production-size (3072-bit) ballot key. Members
// are signed up before the timer starts (one token each), so run it with
// a fixed count, e.g. -benchtime 200x.
func BenchmarkBallotRequests(b *testing.B) {
	h, client, ballot := benchBallot(b)

	var votes []*ballotclient.Vote
	b.Run("POST /ballots/{id}/issue_token", func(b *testing.B) {
		sessions := make([]string, b.N)
		reqs := make([]*ballotclient.Request, b.N)
		for i := range sessions {
			sessions[i] = h.signUp(b, newAuthenticator(), "Member")
			h.call(b, "POST", "/unions/bench/join", sessions[i], nil, nil)
			var err error
			if reqs[i], err = ballotclient.Blind(ballot, i%2, rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sig, err := client.IssueToken(context.Background(), sessions[i], reqs[i])
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			v, err := reqs[i].Finalize(sig)
			if err != nil {
				b.Fatal(err)
			}
			votes = append(votes, v)
			b.StartTimer()
		}
	})
	b.Run("POST /ballots/{id}/vote", func(b *testing.B) {
		// the framework may call this more than once; each vote counts once
		if b.N > len(votes) {
			b.Skipf("%d votes left, %d wanted: use the same -benchtime Nx", len(votes), b.N)
		}
		for i := 0; i < b.N; i++ {
			if err := client.Vote(context.Background(), votes[i]); err != nil {
				b.Fatal(err)
			}
		}
		votes = votes[b.N:]
	})
}

// BenchmarkVoteLatency sends 1000 distinct unlinkable votes from 200
// concurrent clients straight to the origin (no edge) and reports the
// latency percentiles. The tokens are minted before the timer starts
// (about half a minute). Run with -benchtime 1x.
func BenchmarkVoteLatency(b *testing.B) {
	const votes, clients = 1000, 200
	h, client, ballot := benchBallot(b)
	bodies := make([][]byte, votes)
	for i := range bodies {
		s := h.signUp(b, newAuthenticator(), "Member")
		h.call(b, "POST", "/unions/bench/join", s, nil, nil)
		v, err := client.Token(context.Background(), s, ballot, i%2)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = v.Body()
	}

	url := h.url + "/ballots/" + ballot.ID + "/vote"
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for b.Loop() {
		lat, failed := fire(hc, url, bodies, clients)
		if failed > 0 {
			b.Fatalf("%d votes not counted", failed)
		}
		b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 95).Microseconds())/1000, "p95-ms")
		b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
		bodies = nil // each body counts once
	}
}

// fire posts every body once from clients goroutines and returns the
// latencies and the number of answers other than 201.
func fire(hc *http.Client, url string, bodies [][]byte, clients int) ([]time.Duration, int) {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed int
		wg     sync.WaitGroup
		next   = make(chan []byte)
	)
	for range clients {
		wg.Go(func() {
			for body := range next {
				start := time.Now()
				res, err := hc.Post(url, "application/json", bytes.NewReader(body))
				ok := err == nil && res.StatusCode == http.StatusCreated
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				if !ok {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	for _, body := range bodies {
		next <- body
	}
	close(next)
	wg.Wait()
	return lat, failed
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// benchBallot starts the origin on real PostgreSQL with a production-size
// (3072-bit) key for one open unlinkable ballot in the union "bench".
func benchBallot(b *testing.B) (*harness, *ballotclient.Client, *ballotclient.Ballot) {
	saved := testBallotKeys
	testBallotKeys = ballots.GenerateKey(ballots.DefaultKeyBits)
	h := newHarness(b, map[string]*pgtest.Cluster{"": pgtest.Start(b)})
	testBallotKeys = saved

	admin := h.signUp(b, newAuthenticator(), "Bench")
	h.call(b, "POST", "/unions", admin, map[string]string{"slug": "bench", "name": "Bench"}, nil)
	var created struct {
		ID string `json:"id"`
	}
	h.call(b, "POST", "/ballots", admin, map[string]any{
		"union": "bench", "question": "Bench?", "options": []string{"yes", "no"},
		"mode": "unlinkable", "closes_at": h.clock.Now().Add(time.Hour),
	}, &created)
	client := &ballotclient.Client{BaseURL: h.url}
	ballot, err := client.Ballot(context.Background(), created.ID)
	if err != nil {
		b.Fatal(err)
	}
	return h, client, ballot
}
