// Package events writes the rows behind the transparency report into
// logs.events (content database): a kind and a time, nothing that names a
// person or a union. Rows older than 24 hours are purged.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention is how long an event row is kept.
const Retention = 24 * time.Hour

// Event kinds.
const (
	AccountCreated   = "account.created"
	SessionCreated   = "session.created"
	PasskeyAdded     = "passkey.added"
	PasskeyRemoved   = "passkey.removed"
	CounterRegressed = "passkey.counter_regressed"
	UnionCreated     = "union.created"
	UnionJoined      = "union.joined"
	UnionLeft        = "union.left"
	PostCreated      = "post.created"
	PostReported     = "post.reported"
	BallotCreated    = "ballot.created"
)

// Log records events in the content database.
type Log struct {
	db  *pgxpool.Pool
	now func() time.Time
}

// New returns a Log on db with the clock now.
func New(db *pgxpool.Pool, now func() time.Time) *Log {
	return &Log{db: db, now: now}
}

// Record stores one event.
func (l *Log) Record(ctx context.Context, kind string) error {
	_, err := l.db.Exec(ctx, "insert into logs.events (at, kind) values ($1, $2)", l.now(), kind)
	if err != nil {
		return fmt.Errorf("recording event %s: %w", kind, err)
	}
	return nil
}

// Purge deletes events older than Retention and returns how many.
func (l *Log) Purge(ctx context.Context) (int64, error) {
	tag, err := l.db.Exec(ctx, "delete from logs.events where at < $1", l.now().Add(-Retention))
	if err != nil {
		return 0, fmt.Errorf("purging events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Counts returns the number of events per kind still held.
func (l *Log) Counts(ctx context.Context) (map[string]int64, error) {
	rows, err := l.db.Query(ctx, "select kind, count(*) from logs.events group by kind")
	if err != nil {
		return nil, fmt.Errorf("counting events: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
