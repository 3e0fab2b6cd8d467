// Package accounts stores passkey accounts, WebAuthn ceremonies and
// sessions in the content database. An account is a random id, a random
// WebAuthn user handle and a pseudonym; nothing else about a person is
// kept. Session tokens and ceremony ids are stored only as SHA-256 hashes.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	ErrNotFound    = errors.New("not found")
	ErrNoCeremony  = errors.New("no such ceremony, already used or expired")
	ErrNoSession   = errors.New("no such session or expired")
	ErrLastPasskey = errors.New("the last passkey of an account cannot be removed")
	ErrConflict    = errors.New("concurrent update")
)

// Store reads and writes accounts.
type Store struct {
	db *pgxpool.Pool
}

// New returns a Store on the content database.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Account is a passkey account; it is the webauthn.User of its ceremonies.
type Account struct {
	ID          string
	UserHandle  []byte
	Pseudonym   string
	Credentials []webauthn.Credential
}

func (a *Account) WebAuthnID() []byte                         { return a.UserHandle }
func (a *Account) WebAuthnName() string                       { return a.Pseudonym }
func (a *Account) WebAuthnDisplayName() string                { return a.Pseudonym }
func (a *Account) WebAuthnCredentials() []webauthn.Credential { return a.Credentials }

var _ webauthn.User = (*Account)(nil)

// NewID returns a random version 4 UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewToken returns 32 random bytes, base64url: session tokens, ceremony
// ids, user handles.
func NewToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b), b
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Ceremony is the server-side state between a begin and a finish step.
type Ceremony struct {
	Kind       string // register, verify, add_passkey
	AccountID  string // add_passkey
	Pseudonym  string // register
	UserHandle []byte // register
	Session    webauthn.SessionData
}

// PutCeremony stores c until expires and returns its single-use id.
func (s *Store) PutCeremony(ctx context.Context, c Ceremony, expires time.Time) (string, error) {
	id, _ := NewToken()
	session, err := json.Marshal(c.Session)
	if err != nil {
		return "", err
	}
	var account any
	if c.AccountID != "" {
		account = c.AccountID
	}
	_, err = s.db.Exec(ctx, `insert into picket.ceremonies
		(id_hash, kind, account_id, pseudonym, user_handle, session, expires_at)
		values ($1, $2, $3, $4, $5, $6, $7)`,
		hashToken(id), c.Kind, account, c.Pseudonym, c.UserHandle, session, expires)
	if err != nil {
		return "", fmt.Errorf("storing ceremony: %w", err)
	}
	return id, nil
}

// TakeCeremony removes and returns the ceremony; an unknown, used,
// expired (at now) or other-kind id is ErrNoCeremony.
func (s *Store) TakeCeremony(ctx context.Context, id, kind string, now time.Time) (Ceremony, error) {
	var (
		c       Ceremony
		account *string
		pseud   *string
		session []byte
		expires time.Time
	)
	err := s.db.QueryRow(ctx, `delete from picket.ceremonies where id_hash = $1 and kind = $2
		returning account_id::text, pseudonym, user_handle, session, expires_at`,
		hashToken(id), kind).Scan(&account, &pseud, &c.UserHandle, &session, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNoCeremony
	}
	if err != nil {
		return c, fmt.Errorf("taking ceremony: %w", err)
	}
	if !now.Before(expires) {
		return c, ErrNoCeremony
	}
	c.Kind = kind
	if account != nil {
		c.AccountID = *account
	}
	if pseud != nil {
		c.Pseudonym = *pseud
	}
	if err := json.Unmarshal(session, &c.Session); err != nil {
		return c, fmt.Errorf("decoding ceremony: %w", err)
	}
	return c, nil
}

// PurgeCeremonies deletes ceremonies that expired before now.
func (s *Store) PurgeCeremonies(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, "delete from picket.ceremonies where expires_at <= $1", now)
	return tag.RowsAffected(), err
}
