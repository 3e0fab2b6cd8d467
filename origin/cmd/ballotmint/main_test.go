package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/api"
	"github.com/picket-edge/picket/origin/internal/ballots"
	"github.com/picket-edge/picket/origin/internal/database"
	"github.com/picket-edge/picket/origin/internal/database/dbtest"
	"github.com/picket-edge/picket/origin/internal/keys"
)

// TestMint mints votes against an origin on real PostgreSQL and casts
// one of them.
func TestMint(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	urls := dbtest.Setup(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	pools := dbtest.Open(t, urls)
	master := make([]byte, keys.MasterKeySize)
	_, _ = rand.Read(master)
	km, err := keys.OpenKeyring(filepath.Join(t.TempDir(), "keyring"), master)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{
		Databases: pools, Names: database.Names(),
		App: &api.AppConfig{
			Content: pools["content"], Membership: pools["membership"], Ballot: pools["ballot"],
			Keys: km, BallotKeys: ballots.GenerateKey(2048),
			WebAuthn: api.WebAuthnConfig{RPID: "picket.test", Origins: []string{"https://picket.test"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	out := filepath.Join(t.TempDir(), "votes.jsonl")
	cfg := config{base: srv.URL, origin: "https://picket.test", out: out, n: 3, workers: 2, spread: true}
	if err := run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if len(lines) != 3 {
		t.Fatalf("lines: got %d, want 3", len(lines))
	}

	// the one ballot in the database
	var ballotID string
	rows, err := pools["ballot"].Query(context.Background(), "select id::text from picket.ballots")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		_ = rows.Scan(&ballotID)
	}
	rows.Close()
	res, err := http.Post(srv.URL+"/ballots/"+ballotID+"/vote", "application/json", bytes.NewReader(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("vote: got %d, want 201", res.StatusCode)
	}

	if _, err := httpClient(&config{base: "http://192.0.2.1:80"}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback target: got %v, want refused", err)
	}
}
