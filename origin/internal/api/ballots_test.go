package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/ballotclient"
	"github.com/picket-edge/picket/origin/internal/ballots"
)

// testBallotKeys spares the tests 3072-bit key generation (seconds per
// ballot on a shared machine); the size is the only difference.
var testBallotKeys = ballots.GenerateKey(2048)

// voteWorld is a union with an admin, members and an outsider.
type voteWorld struct {
	h        *harness
	admin    string
	members  []string
	outsider string
	client   *ballotclient.Client
}

func newVoteWorld(t *testing.T, members int) *voteWorld {
	t.Helper()
	h := newHarness(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	w := &voteWorld{h: h, client: &ballotclient.Client{BaseURL: h.url}}
	w.admin = h.signUp(t, newAuthenticator(), "Organiser")
	if r := h.call(t, "POST", "/unions", w.admin, map[string]string{"slug": "voters", "name": "Voters"}, nil); r.status != 201 {
		t.Fatalf("create union: got %d, want 201 (%s)", r.status, r.body)
	}
	for range members {
		tok := h.signUp(t, newAuthenticator(), "Member")
		if r := h.call(t, "POST", "/unions/voters/join", tok, nil, nil); r.status != 204 {
			t.Fatalf("join: got %d, want 204", r.status)
		}
		w.members = append(w.members, tok)
	}
	w.outsider = h.signUp(t, newAuthenticator(), "Outsider")
	return w
}

// ballot creates a ballot open from now+opensIn to now+closesIn.
func (w *voteWorld) ballot(t *testing.T, mode string, opensIn, closesIn time.Duration, running bool,
) *ballotclient.Ballot {
	t.Helper()
	now := w.h.clock.Now()
	r := w.h.call(t, "POST", "/ballots", w.admin, map[string]any{
		"union": "voters", "question": "Strike on Friday?", "options": []string{"yes", "no", "abstain"},
		"mode": mode, "opens_at": now.Add(opensIn), "closes_at": now.Add(closesIn),
		"running_tally": running,
	}, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create ballot: got %d, want 201 (%s)", r.status, r.body)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	b, err := w.client.Ballot(context.Background(), created.ID)
	if err != nil {
		t.Fatalf("fetching ballot: %v", err)
	}
	return b
}

func (w *voteWorld) token(t *testing.T, session string, b *ballotclient.Ballot, choice int) *ballotclient.Vote {
	t.Helper()
	v, err := w.client.Token(context.Background(), session, b, choice)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return v
}

func (w *voteWorld) postVote(t *testing.T, id string, body []byte, hdr map[string]string) response {
	t.Helper()
	all := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	for k, v := range hdr {
		all[k] = v
	}
	return w.h.do(t, "POST", "/ballots/"+id+"/vote", all, bytes.NewReader(body))
}

func (w *voteWorld) votes(t *testing.T) int { return w.h.count(t, "ballot", "picket.votes") }

func TestBallotCreation(t *testing.T) {
	w := newVoteWorld(t, 1)
	now := w.h.clock.Now()
	good := func() map[string]any {
		return map[string]any{
			"union": "voters", "question": "Q?", "options": []string{"a", "b"}, "mode": "simple",
			"closes_at": now.Add(time.Hour),
		}
	}
	with := func(k string, v any) map[string]any { m := good(); m[k] = v; return m }
	tests := []struct {
		name       string
		token      string
		body       any
		wantStatus int
		wantCode   string
	}{
		{name: "member is not admin", token: w.members[0], body: good(), wantStatus: 403, wantCode: "forbidden"},
		{name: "outsider", token: w.outsider, body: good(), wantStatus: 403, wantCode: "forbidden"},
		{name: "no session", token: "", body: good(), wantStatus: 401, wantCode: "unauthenticated"},
		{name: "one option", token: w.admin, body: with("options", []string{"a"}), wantStatus: 400, wantCode: "bad_ballot"},
		{name: "duplicate options", token: w.admin, body: with("options", []string{"a", "a "}), wantStatus: 400, wantCode: "bad_ballot"},
		{name: "bad mode", token: w.admin, body: with("mode", "secret"), wantStatus: 400, wantCode: "bad_ballot"},
		{name: "closed already", token: w.admin, body: with("closes_at", now.Add(-time.Hour)), wantStatus: 400, wantCode: "bad_ballot"},
		{name: "empty question", token: w.admin, body: with("question", " "), wantStatus: 400, wantCode: "bad_ballot"},
		{name: "unknown union", token: w.admin, body: with("union", "nobody-here"), wantStatus: 404, wantCode: "not_found"},
		{name: "unknown field", token: w.admin, body: with("voters", []string{"x"}), wantStatus: 400, wantCode: "malformed_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.h.call(t, "POST", "/ballots", tt.token, tt.body, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
			if e := decodeError(t, r); e.Code != tt.wantCode {
				t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
			}
		})
	}
	if n := w.h.count(t, "ballot", "picket.ballots"); n != 0 {
		t.Errorf("ballots stored after refusals: got %d, want 0", n)
	}

	t.Run("public pages", func(t *testing.T) {
		b := w.ballot(t, ballots.ModeUnlinkable, 0, time.Hour, false)
		if b.Status != "open" || b.Variant != ballots.Variant || len(b.PublicKey) == 0 {
			t.Fatalf("ballot: got status %q variant %q key %d bytes, want open, %s, a key",
				b.Status, b.Variant, len(b.PublicKey), ballots.Variant)
		}
		r := w.h.do(t, "GET", "/ballots/"+b.ID, nil, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("html page: got %d %s", r.status, r.header.Get("Content-Type"))
		}
		if !bytes.Contains(r.body, []byte("Strike on Friday?")) || !bytes.Contains(r.body, []byte(b.KeyID)) ||
			bytes.Contains(r.body, []byte("<script")) {
			t.Errorf("html page: want the question and key id, no script: %s", r.body)
		}
		r = w.h.do(t, "GET", "/unions/voters/ballots", map[string]string{"Accept": "application/json"}, nil)
		if r.status != 200 || !bytes.Contains(r.body, []byte(b.ID)) {
			t.Errorf("union ballots: got %d %s, want the ballot", r.status, r.body)
		}
		for _, p := range []string{"/ballots/not-a-uuid", "/ballots/0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11"} {
			if r := w.h.do(t, "GET", p, nil, nil); r.status != 404 {
				t.Errorf("%s: got %d, want 404", p, r.status)
			}
		}
	})

	t.Run("admin aggregates count ballots", func(t *testing.T) {
		var view struct {
			Aggregates struct {
				Ballots int `json:"ballots"`
			} `json:"aggregates"`
		}
		w.h.call(t, "GET", "/unions/voters/admin", w.admin, nil, &view)
		if view.Aggregates.Ballots != 1 {
			t.Errorf("ballots: got %d, want 1", view.Aggregates.Ballots)
		}
	})
}

func TestUnlinkableBallot(t *testing.T) {
	w := newVoteWorld(t, 4)
	ctx := context.Background()
	b := w.ballot(t, ballots.ModeUnlinkable, 0, time.Hour, false)
	other := w.ballot(t, ballots.ModeUnlinkable, 0, time.Hour, false)
	later := w.ballot(t, ballots.ModeUnlinkable, 30*time.Minute, 3*time.Hour, false)

	vote := w.token(t, w.members[0], b, 1)

	t.Run("tally hidden while open", func(t *testing.T) {
		_, err := w.client.Tally(ctx, b.ID)
		if !ballotclient.IsCode(err, "tally_not_available") {
			t.Errorf("tally: got %v, want tally_not_available", err)
		}
	})

	t.Run("one token per member", func(t *testing.T) {
		// a retry of the same blinded message is answered again
		req, err := ballotclient.Blind(b, 0, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		first, err := w.client.IssueToken(ctx, w.members[1], req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := w.client.IssueToken(ctx, w.members[1], req)
		if err != nil || !bytes.Equal(first, again) {
			t.Fatalf("retry: got %v, want the same blind signature", err)
		}
		// a second request with another message is refused
		second, _ := ballotclient.Blind(b, 1, rand.Reader)
		if _, err := w.client.IssueToken(ctx, w.members[1], second); !ballotclient.IsCode(err, "token_already_issued") {
			t.Errorf("second token: got %v, want token_already_issued", err)
		}
		if _, err := w.client.IssueToken(ctx, w.outsider, second); !ballotclient.IsCode(err, "not_member") {
			t.Errorf("outsider: got %v, want not_member", err)
		}
		if _, err := w.client.IssueToken(ctx, "", second); !ballotclient.IsCode(err, "unauthenticated") {
			t.Errorf("no session: got %v, want unauthenticated", err)
		}
		early, _ := ballotclient.Blind(later, 0, rand.Reader)
		if _, err := w.client.IssueToken(ctx, w.members[1], early); !ballotclient.IsCode(err, "ballot_not_open") {
			t.Errorf("before opening: got %v, want ballot_not_open", err)
		}
		if n := w.h.count(t, "ballot", "picket.issuances"); n != 2 {
			t.Errorf("issuances: got %d, want 2", n)
		}
		// a rotation of the member key does not reopen the door
		if err := w.h.keys.Rotate(ctx, ballots.MemberKeyName); err != nil {
			t.Fatal(err)
		}
		if _, err := w.client.IssueToken(ctx, w.members[1], second); !ballotclient.IsCode(err, "token_already_issued") {
			t.Errorf("second token after key rotation: got %v, want token_already_issued", err)
		}
		if _, err := w.client.IssueToken(ctx, w.members[1], req); err != nil {
			t.Errorf("retry after key rotation: got %v, want the same answer", err)
		}
	})

	t.Run("bad token requests are refused and store nothing", func(t *testing.T) {
		before := w.h.count(t, "ballot", "picket.issuances")
		k := len(modulusOf(t, b).Bytes())
		enc := ballots.EncodeBytes
		tests := []struct {
			name     string
			body     any
			wantCode string
		}{
			{name: "short", body: map[string]string{"blinded_message": enc(make([]byte, k-1))},
				wantCode: "bad_blinded_message"},
			{name: "above the modulus", body: map[string]string{"blinded_message": enc(bytes.Repeat([]byte{0xff}, k))},
				wantCode: "bad_blinded_message"},
			{name: "padded base64", body: map[string]string{"blinded_message": "AAAA=="},
				wantCode: "bad_blinded_message"},
			{name: "oversize", body: map[string]string{"blinded_message": enc(make([]byte, 600))},
				wantCode: "bad_blinded_message"},
			{name: "unknown field", body: map[string]string{"blinded_message": "", "member": "x"},
				wantCode: "malformed_json"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := w.h.call(t, "POST", "/ballots/"+b.ID+"/issue_token", w.members[3], tt.body, nil)
				if r.status != 400 {
					t.Fatalf("status: got %d, want 400 (%s)", r.status, r.body)
				}
				if e := decodeError(t, r); e.Code != tt.wantCode {
					t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
				}
			})
		}
		if n := w.h.count(t, "ballot", "picket.issuances"); n != before {
			t.Errorf("issuances: got %d, want %d", n, before)
		}
	})

	t.Run("racing token requests issue one", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		issued := 0
		for range 20 {
			wg.Go(func() {
				req, err := ballotclient.Blind(b, 0, rand.Reader)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = w.client.IssueToken(ctx, w.members[3], req)
				if err != nil && !ballotclient.IsCode(err, "token_already_issued") {
					t.Errorf("racing request: got %v, want success or token_already_issued", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					issued++
				}
			})
		}
		wg.Wait()
		if issued != 1 {
			t.Errorf("tokens issued: got %d, want 1", issued)
		}
	})

	t.Run("bad votes are refused and store nothing", func(t *testing.T) {
		testBadVotes(t, w, b, other, vote)
	})

	t.Run("100 concurrent submissions count once", func(t *testing.T) {
		body := vote.Body()
		var wg sync.WaitGroup
		statuses := make([]int, 100)
		for i := range statuses {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", w.h.url+"/ballots/"+b.ID+"/vote", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[201] != 1 || count[409] != 99 {
			t.Errorf("statuses: got %v, want one 201 and 99 409", count)
		}
		if n := w.votes(t); n != 1 {
			t.Errorf("votes: got %d, want 1", n)
		}
	})

	t.Run("tally after close", func(t *testing.T) {
		v2 := w.token(t, w.members[2], b, 2)
		if err := w.client.Vote(ctx, v2); err != nil {
			t.Fatal(err)
		}
		late := w.token(t, w.members[1], other, 0)
		w.h.clock.Advance(2 * time.Hour)
		if err := w.client.Vote(ctx, late); !ballotclient.IsCode(err, "ballot_not_open") {
			t.Errorf("vote after close: got %v, want ballot_not_open", err)
		}
		req, _ := ballotclient.Blind(other, 0, rand.Reader)
		if _, err := w.client.IssueToken(ctx, w.members[2], req); !ballotclient.IsCode(err, "ballot_not_open") {
			t.Errorf("token after close: got %v, want ballot_not_open", err)
		}
		tally, err := w.client.Tally(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{0, 1, 1}; !equalCounts(tally.Counts, want) || tally.Total != 2 {
			t.Errorf("tally: got %v total %d, want %v total 2", tally.Counts, tally.Total, want)
		}
		var admin struct {
			Turnout ballots.Turnout `json:"turnout"`
			Ballot  struct {
				Tally *ballots.Tally `json:"tally"`
			} `json:"ballot"`
		}
		if r := w.h.call(t, "GET", "/ballots/"+b.ID+"/admin", w.admin, nil, &admin); r.status != 200 {
			t.Fatalf("admin view: got %d, want 200", r.status)
		}
		if admin.Turnout.TokensIssued != 4 || admin.Turnout.VotesCast != 2 ||
			admin.Ballot.Tally == nil || admin.Ballot.Tally.Total != 2 {
			t.Errorf("admin view: got %+v, tally %+v, want 4 tokens, 2 votes, the tally", admin.Turnout, admin.Ballot.Tally)
		}
		if r := w.h.call(t, "GET", "/ballots/"+b.ID+"/admin", w.members[0], nil, nil); r.status != 403 {
			t.Errorf("admin view as member: got %d, want 403", r.status)
		}
		page := w.h.do(t, "GET", "/ballots/"+b.ID, nil, nil)
		if !bytes.Contains(page.body, []byte("Total: 2 votes")) {
			t.Errorf("html page after close: want the tally, got %s", page.body)
		}
	})
}

func equalCounts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testBadVotes sends altered and malformed votes; each gets a clear 4xx
// and the votes table stays empty.
func testBadVotes(t *testing.T, w *voteWorld, b, other *ballotclient.Ballot, vote *ballotclient.Vote) {
	otherVote := w.token(t, w.members[0], other, 1)
	sig := vote.Signature
	modulus := modulusOf(t, b)
	plusN := new(big.Int).Add(new(big.Int).SetBytes(sig), modulus).Bytes()
	flipped := bytes.Clone(sig)
	flipped[len(flipped)-1] ^= 1
	enc := ballots.EncodeBytes
	body := func(msg, sig []byte) []byte {
		return []byte(`{"message":"` + enc(msg) + `","signature":"` + enc(sig) + `"}`)
	}
	padded := []byte(`{"message":"` + base64.URLEncoding.EncodeToString(vote.Prepared) +
		`","signature":"` + enc(sig) + `"}`)
	withSession := map[string]string{"Authorization": "Bearer " + w.members[0]}
	wrongChoice := bytes.Clone(vote.Prepared)
	wrongChoice[len(wrongChoice)-1] = 7

	tests := []struct {
		name       string
		ballot     string
		body       []byte
		hdr        map[string]string
		wantStatus int
		wantCode   string
	}{
		{name: "modified signature", body: body(vote.Prepared, flipped), wantStatus: 403, wantCode: "invalid_signature"},
		{name: "other ballot's key", body: body(vote.Prepared, otherVote.Signature), wantStatus: 403, wantCode: "invalid_signature"},
		{name: "other ballot's vote here", body: otherVote.Body(), wantStatus: 400, wantCode: "wrong_ballot"},
		{name: "s + n", body: body(vote.Prepared, plusN), wantStatus: 403, wantCode: "invalid_signature"},
		{name: "leading zero", body: body(vote.Prepared, append([]byte{0}, sig...)), wantStatus: 403, wantCode: "invalid_signature"},
		{name: "modulus", body: body(vote.Prepared, modulus.FillBytes(make([]byte, len(sig)))), wantStatus: 403, wantCode: "invalid_signature"},
		{name: "changed choice", body: body(wrongChoice, sig), wantStatus: 400, wantCode: "bad_choice"},
		{name: "padded base64", body: padded, wantStatus: 400, wantCode: "malformed_vote"},
		{name: "short message", body: body(vote.Prepared[1:], sig), wantStatus: 400, wantCode: "malformed_vote"},
		{name: "oversize value", body: body(make([]byte, 600), sig), wantStatus: 400, wantCode: "malformed_vote"},
		{name: "oversize body", body: []byte(`{"message":"` + strings.Repeat("A", 70000) + `"}`), wantStatus: 413, wantCode: "body_too_large"},
		{name: "malformed json", body: []byte(`{"message":`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "unknown field", body: []byte(`{"message":"","signature":"","voter":"x"}`), wantStatus: 400, wantCode: "malformed_json"},
		{name: "with a session", body: vote.Body(), hdr: withSession, wantStatus: 400,
			wantCode: "credential_not_allowed"},
		{name: "unknown ballot", ballot: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", body: vote.Body(), wantStatus: 404, wantCode: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := b.ID
			if tt.ballot != "" {
				id = tt.ballot
			}
			r := w.postVote(t, id, tt.body, tt.hdr)
			if r.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
			if e := decodeError(t, r); e.Code != tt.wantCode {
				t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
			}
		})
	}
	if n := w.votes(t); n != 0 {
		t.Errorf("votes stored after refusals: got %d, want 0", n)
	}
}

func modulusOf(t *testing.T, b *ballotclient.Ballot) *big.Int {
	t.Helper()
	pk, err := ballots.ParsePublicKey(b.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pk.RSA().N
}

func TestSimpleBallot(t *testing.T) {
	w := newVoteWorld(t, 2)
	ctx := context.Background()
	b := w.ballot(t, ballots.ModeSimple, 0, time.Hour, true)

	if err := w.client.VoteSimple(ctx, w.members[0], b.ID, 2); err != nil {
		t.Fatalf("vote: %v", err)
	}
	tests := []struct {
		name     string
		session  string
		choice   int
		wantCode string
	}{
		{name: "second vote", session: w.members[0], choice: 1, wantCode: "already_voted"},
		{name: "outsider", session: w.outsider, choice: 0, wantCode: "not_member"},
		{name: "no session", session: "", choice: 0, wantCode: "unauthenticated"},
		{name: "no such option", session: w.members[1], choice: 3, wantCode: "bad_choice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.client.VoteSimple(ctx, tt.session, b.ID, tt.choice)
			if !ballotclient.IsCode(err, tt.wantCode) {
				t.Errorf("got %v, want %s", err, tt.wantCode)
			}
		})
	}
	if r := w.h.call(t, "POST", "/ballots/"+b.ID+"/issue_token", w.members[1], map[string]string{"blinded_message": "AAAA"}, nil); r.status != 400 {
		t.Errorf("token for a simple ballot: got %d, want 400", r.status)
	}

	// after a rotation of the member key, the old hash still counts
	if err := w.h.keys.Rotate(ctx, ballots.MemberKeyName); err != nil {
		t.Fatal(err)
	}
	if err := w.client.VoteSimple(ctx, w.members[0], b.ID, 1); !ballotclient.IsCode(err, "already_voted") {
		t.Errorf("vote after key rotation: got %v, want already_voted", err)
	}

	// running tally: visible while open
	tally, err := w.client.Tally(ctx, b.ID)
	if err != nil || tally.Total != 1 || tally.Counts[2] != 1 {
		t.Fatalf("running tally: got %+v, %v, want one vote for option 2", tally, err)
	}

	// the vote rows hold the ballot and the choice, nothing else
	conn := connect(t, w.h.urls.Owner["ballot"])
	rows, err := conn.Query(ctx, "select row_to_json(v)::text from picket.votes v")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ballot_id":"` + b.ID + `","nullifier":null,"choice":2}`
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("vote rows: got %v, want [%s]", lines, want)
	}
}

// TestBallotDumpCannotJoin runs a round of unlinkable votes, dumps the
// ballot database, and checks that nothing in it joins an issuance to a
// vote: no column but the ballot id is shared, no value of one table's
// rows appears in the other's, no time is stored with either, and no
// account id appears anywhere.
func TestBallotDumpCannotJoin(t *testing.T) {
	w := newVoteWorld(t, 6)
	ctx := context.Background()
	b := w.ballot(t, ballots.ModeUnlinkable, 0, time.Hour, false)
	var cast []*ballotclient.Vote
	for i, m := range w.members {
		cast = append(cast, w.token(t, m, b, i%3))
	}
	// votes go in an order unrelated to issuance, as the app's delay makes
	for i := len(cast) - 1; i >= 0; i-- {
		if err := w.client.Vote(ctx, cast[i]); err != nil {
			t.Fatal(err)
		}
	}

	conn := connect(t, w.h.urls.Owner["ballot"])
	columns := func(table string) map[string]string {
		rows, err := conn.Query(ctx, `select column_name, data_type from information_schema.columns
			where table_schema = 'picket' and table_name = $1`, table)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var name, typ string
			if err := rows.Scan(&name, &typ); err != nil {
				t.Fatal(err)
			}
			out[name] = typ
		}
		return out
	}
	issuance, votes := columns("issuances"), columns("votes")
	for name, typ := range issuance {
		if _, shared := votes[name]; shared && name != "ballot_id" {
			t.Errorf("column %s is in both issuances and votes", name)
		}
		if strings.Contains(typ, "time") || strings.Contains(typ, "serial") {
			t.Errorf("issuances.%s is %s", name, typ)
		}
	}
	for name, typ := range votes {
		if strings.Contains(typ, "time") || name == "id" {
			t.Errorf("votes.%s (%s) could order or name a vote", name, typ)
		}
	}

	values := func(query string) []string {
		rows, err := conn.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	issued := values(`select unnest(array[member_hash, encode(request_digest, 'hex')])
		from picket.issuances`)
	voted := values(`select unnest(array[encode(nullifier, 'hex'), choice::text]) from picket.votes`)
	if len(issued) != 12 || len(voted) != 12 {
		t.Fatalf("rows: got %d issuance and %d vote values, want 12 each", len(issued), len(voted))
	}
	dumpVotes := strings.Join(values("select row_to_json(v)::text from picket.votes v"), "\n")
	dumpIssued := strings.Join(values("select row_to_json(i)::text from picket.issuances i"), "\n")
	for _, v := range issued {
		if strings.Contains(dumpVotes, v) {
			t.Errorf("vote rows hold issuance value %s", v)
		}
	}
	for _, v := range voted {
		if len(v) > 4 && strings.Contains(dumpIssued, v) {
			t.Errorf("issuance rows hold vote value %s", v)
		}
	}

	// no account id in the whole database, in any spelling
	dump := dumpDatabase(t, w.h.urls.Owner["ballot"])
	content := connect(t, w.h.urls.Owner["content"])
	ids := values2(t, content, "select id::text from picket.accounts")
	for _, id := range ids {
		for _, form := range []string{id, strings.ReplaceAll(id, "-", "")} {
			if strings.Contains(dump, form) {
				t.Errorf("ballot database holds account id %s", form)
			}
		}
	}

	// the log holds no vote material
	logs := w.h.logs.String()
	for _, v := range cast {
		for _, m := range []string{ballots.EncodeBytes(v.Signature), ballots.EncodeBytes(v.Prepared),
			hex.EncodeToString(v.Prepared[ballots.PrefixSize+len(ballots.Domain)+16:][:ballots.NullifierSize])} {
			if strings.Contains(logs, m[:32]) {
				t.Errorf("logs hold vote material %s", m[:32])
			}
		}
	}
}

func values2(t *testing.T, conn *pgx.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
