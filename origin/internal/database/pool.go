package database

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pools holds one pgx pool per database, keyed by name.
type Pools map[string]*pgxpool.Pool

// defaultMaxConns replaces pgxpool's default (the larger of 4 and the CPU
// count) unless the URL sets pool_max_conns: a vote waits on PostgreSQL far
// longer than on the CPU, and with 4 connections 200 concurrent voters queue
// in the pool (p95 about 190 ms against 130 ms with 16, measured with
// BenchmarkVoteLatency).
const defaultMaxConns = 16

// Open creates a pool per database from appURLs (name to URL). It does not
// wait for the databases: a database that is down shows in Health, and the
// server still starts.
func Open(ctx context.Context, appURLs map[string]string) (Pools, error) {
	pools := make(Pools)
	for _, s := range Specs {
		cfg, err := pgxpool.ParseConfig(appURLs[s.Name])
		if err != nil {
			pools.Close()
			// the parse error quotes the URL; say only which one
			return nil, fmt.Errorf("database %s: invalid connection URL", s.Name)
		}
		if !strings.Contains(appURLs[s.Name], "pool_max_conns") {
			cfg.MaxConns = defaultMaxConns
		}
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			pools.Close()
			return nil, fmt.Errorf("database %s: %w", s.Name, redact(err))
		}
		pools[s.Name] = p
	}
	return pools, nil
}

// Close closes every pool.
func (p Pools) Close() {
	for _, pool := range p {
		pool.Close()
	}
}

// ErrDown is what Health reports for a database that did not answer.
var ErrDown = errors.New("database unavailable")

// Health pings every database at once and returns, per name, nil or ErrDown.
// The cause stays out of the result on purpose: it may quote connection
// details.
func (p Pools) Health(ctx context.Context) map[string]error {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		res = make(map[string]error, len(p))
	)
	for name, pool := range p {
		wg.Go(func() {
			err := pool.Ping(ctx)
			if err != nil {
				err = ErrDown
			}
			mu.Lock()
			res[name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}
