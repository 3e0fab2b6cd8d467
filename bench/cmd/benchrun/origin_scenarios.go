package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/picket-edge/picket/bench/internal/load"
)

// originTargets are the realistic scenarios against a running picket origin
// on real PostgreSQL: the public union list through stock Caddy and through
// picket's chain.
func originTargets(o options, certs pki) []target {
	var out []target
	for _, t := range targets(o, certs, o.realAPI) {
		if t.name != "stock" && t.name != "picket" {
			continue
		}
		label := map[string]string{"stock": "(a) stock Caddy", "picket": "(b) picket clearnet chain"}[t.name]
		t.name += "-api"
		t.title = label + " → real origin: GET /unions, JSON from PostgreSQL"
		t.load.URL = strings.Replace(t.load.URL, "/unions/example", "/unions", 1)
		t.load.Header = t.load.Header.Clone()
		t.load.Header.Set("Accept", "application/json")
		out = append(out, t)
	}
	return out
}

// voteRun posts every prepared unlinkable vote once through picket's chain
// to the real origin, from 200 concurrent clients.
func voteRun(o options, certs pki) (*voteResult, error) {
	bodies, err := readLines(o.votes)
	if err != nil {
		return nil, err
	}
	var picket target
	for _, t := range targets(o, certs, o.realAPI) {
		if t.name == "picket" {
			picket = t
		}
	}
	proc, err := picket.start(o)
	if err != nil {
		return nil, err
	}
	defer proc.stop()

	cfg := picket.load
	cfg.Method = http.MethodPost
	cfg.URL = strings.Replace(cfg.URL, "/unions/example", "/ballots/"+o.ballot+"/vote", 1)
	cfg.Header = cfg.Header.Clone()
	cfg.Header.Set("Content-Type", "application/json")
	cfg.Conns, cfg.Time, cfg.Bodies = 200, 5*time.Minute, bodies
	cfg.Prime = strings.Replace(cfg.URL, "/ballots/"+o.ballot+"/vote", "/health", 1)
	log.Printf("votes: %d prepared votes, 200 concurrent clients, through (b) to the real origin", len(bodies))
	res, err := load.Run(cfg)
	if err != nil {
		return nil, err
	}
	return &voteResult{Result: res, votes: len(bodies)}, nil
}

type voteResult struct {
	load.Result
	votes int
}

func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading votes: %w", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	return out, sc.Err()
}
