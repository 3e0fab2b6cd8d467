package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnlinkableVoteThroughEdge runs Mode B end to end through the
// Cloudflare stand-in and the custom Caddy: ballotmint signs up members
// with software passkeys, issues their tokens and finalises the votes;
// the votes go through the edge with no session; the running tally counts
// them; a replay and an altered signature are refused.
func TestUnlinkableVoteThroughEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL, the origin and the custom Caddy")
	}
	s := startStack(t)
	mint := binary(t, "PICKET_BALLOTMINT_BIN", "ballotmint", "./origin/cmd/ballotmint")
	out := filepath.Join(t.TempDir(), "votes.jsonl")
	p := startProcess(t, nil, mint, "-url", s.edge.base, "-n", "3", "-out", out, "-running-tally",
		"-spread-sources")
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("ballotmint: exit %d\n%s", code, p.output.String())
	}
	// "ballot <id>: 3 votes in ..."
	fields := strings.Fields(p.output.String())
	if len(fields) < 2 || fields[0] != "ballot" {
		t.Fatalf("ballotmint output: got %q, want the ballot id", p.output.String())
	}
	id := strings.TrimSuffix(fields[1], ":")
	votes := readVoteLines(t, out)
	if len(votes) != 3 {
		t.Fatalf("votes: got %d, want 3", len(votes))
	}

	post := func(body []byte) reply {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.edge.base+"/ballots/"+id+"/vote", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: b}
	}
	for i, v := range votes {
		if r := post(v); r.status != http.StatusCreated {
			t.Fatalf("vote %d: got %d %s, want 201", i, r.status, r.body)
		}
	}
	if r := post(votes[0]); r.status != http.StatusConflict || !strings.Contains(string(r.body), "already_voted") {
		t.Errorf("replay: got %d %s, want 409 already_voted", r.status, r.body)
	}
	if r := post(alterSignature(t, votes[1])); r.status != http.StatusForbidden {
		t.Errorf("altered signature: got %d %s, want 403", r.status, r.body)
	}

	r := s.edge.get(t, "/ballots/"+id+"/tally", "application/json")
	var tally struct {
		Total  int   `json:"total"`
		Counts []int `json:"counts"`
	}
	if err := json.Unmarshal(r.body, &tally); err != nil || r.status != 200 {
		t.Fatalf("tally: got %d %s", r.status, r.body)
	}
	if tally.Total != 3 || len(tally.Counts) != 2 || tally.Counts[0] != 2 || tally.Counts[1] != 1 {
		t.Errorf("tally: got %+v, want [2 1] total 3", tally)
	}
	page := s.edge.get(t, "/ballots/"+id, "text/html")
	if page.status != 200 || !strings.Contains(string(page.body), "Total: 3 votes") {
		t.Errorf("ballot page: got %d, want the running tally", page.status)
	}
	checkResponseHeaders(t, &http.Response{Header: page.header})
}

func readVoteLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

func alterSignature(t *testing.T, body []byte) []byte {
	t.Helper()
	var v map[string]string
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(v["signature"])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	v["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	b, _ := json.Marshal(v)
	return b
}
