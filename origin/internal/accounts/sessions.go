package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is what an account owner sees of a session.
type Session struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Current   bool      `json:"current"`
}

// NewSession makes a session for the account and returns its token, which
// is shown once and stored only as a hash.
func (s *Store) NewSession(
	ctx context.Context, accountID string, now time.Time, ttl time.Duration,
) (string, Session, error) {
	token, _ := NewToken()
	sess := Session{ID: NewID(), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	_, err := s.db.Exec(ctx, `insert into picket.sessions
		(id, token_hash, account_id, created_at, expires_at) values ($1, $2, $3, $4, $5)`,
		sess.ID, hashToken(token), accountID, sess.CreatedAt, sess.ExpiresAt)
	if err != nil {
		return "", Session{}, fmt.Errorf("creating session: %w", err)
	}
	return token, sess, nil
}

// SessionAccount returns the account and session id of a live token.
func (s *Store) SessionAccount(
	ctx context.Context, token string, now time.Time,
) (accountID, sessionID string, err error) {
	err = s.db.QueryRow(ctx, `select account_id::text, id::text from picket.sessions
		where token_hash = $1 and expires_at > $2`, hashToken(token), now).
		Scan(&accountID, &sessionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNoSession
	}
	if err != nil {
		return "", "", fmt.Errorf("looking up session: %w", err)
	}
	return accountID, sessionID, nil
}

// ListSessions lists the live sessions of an account.
func (s *Store) ListSessions(
	ctx context.Context, accountID, currentID string, now time.Time,
) ([]Session, error) {
	rows, err := s.db.Query(ctx, `select id::text, created_at, expires_at from picket.sessions
		where account_id = $1 and expires_at > $2 order by created_at`, accountID, now)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var ss Session
		if err := rows.Scan(&ss.ID, &ss.CreatedAt, &ss.ExpiresAt); err != nil {
			return nil, err
		}
		ss.Current = ss.ID == currentID
		out = append(out, ss)
	}
	return out, rows.Err()
}

// DeleteSession revokes one session of the account.
func (s *Store) DeleteSession(ctx context.Context, accountID, sessionID string) error {
	tag, err := s.db.Exec(ctx, "delete from picket.sessions where account_id = $1 and id::text = $2",
		accountID, sessionID)
	if err != nil {
		return fmt.Errorf("revoking session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PurgeSessions deletes sessions that expired before now.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, "delete from picket.sessions where expires_at <= $1", now)
	return tag.RowsAffected(), err
}

func encodeID(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// DecodeID parses a base64url credential id.
func DecodeID(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
