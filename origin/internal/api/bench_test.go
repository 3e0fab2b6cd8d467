package api_test

import (
	"context"
	"crypto/rand"
	"net/http"
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

	var votes []*ballotclient.Vote
	b.Run("POST /ballots/{id}/issue_token", func(b *testing.B) {
		sessions := make([]string, b.N)
		reqs := make([]*ballotclient.Request, b.N)
		for i := range sessions {
			sessions[i] = h.signUp(b, newAuthenticator(), "Member")
			h.call(b, "POST", "/unions/bench/join", sessions[i], nil, nil)
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
