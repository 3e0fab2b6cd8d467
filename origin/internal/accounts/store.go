package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
)

// CreateAccount stores a new account with its first passkey, both or
// neither.
func (s *Store) CreateAccount(
	ctx context.Context, a *Account, cred *webauthn.Credential, now time.Time,
) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			"insert into picket.accounts (id, user_handle, pseudonym) values ($1, $2, $3)",
			a.ID, a.UserHandle, a.Pseudonym)
		if err != nil {
			return fmt.Errorf("creating account: %w", err)
		}
		return insertPasskey(ctx, tx, a.ID, cred, now)
	})
}

func insertPasskey(
	ctx context.Context, tx pgx.Tx, accountID string, cred *webauthn.Credential, now time.Time,
) error {
	record, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `insert into picket.passkeys
		(credential_id, account_id, record, sign_count, backup_eligible, backup_state, created_at)
		values ($1, $2, $3, $4, $5, $6, $7)`,
		cred.ID, accountID, record, int64(cred.Authenticator.SignCount),
		cred.Flags.BackupEligible, cred.Flags.BackupState, now)
	if err != nil {
		return fmt.Errorf("storing passkey: %w", err)
	}
	return nil
}

// AddPasskey adds another passkey to an account.
func (s *Store) AddPasskey(
	ctx context.Context, accountID string, cred *webauthn.Credential, now time.Time,
) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		return insertPasskey(ctx, tx, accountID, cred, now)
	})
}

// AccountByHandle loads the account with WebAuthn user handle h.
func (s *Store) AccountByHandle(ctx context.Context, h []byte) (*Account, error) {
	return s.account(ctx, "user_handle = $1", h)
}

// AccountByID loads the account with id.
func (s *Store) AccountByID(ctx context.Context, id string) (*Account, error) {
	return s.account(ctx, "id = $1", id)
}

func (s *Store) account(ctx context.Context, where string, arg any) (*Account, error) {
	a := &Account{}
	err := s.db.QueryRow(ctx,
		"select id::text, user_handle, pseudonym from picket.accounts where "+where, arg).
		Scan(&a.ID, &a.UserHandle, &a.Pseudonym)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading account: %w", err)
	}

	rows, err := s.db.Query(ctx,
		"select record from picket.passkeys where account_id = $1 order by created_at", a.ID)
	if err != nil {
		return nil, fmt.Errorf("loading passkeys: %w", err)
	}
	records, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("loading passkeys: %w", err)
	}
	for _, r := range records {
		var c webauthn.Credential
		if err := json.Unmarshal(r, &c); err != nil {
			return nil, fmt.Errorf("decoding passkey: %w", err)
		}
		a.Credentials = append(a.Credentials, c)
	}
	return a, nil
}

// UpdatePasskey stores the counter and flags after a login, if nobody else
// moved the counter since it was read (prev); else ErrConflict.
func (s *Store) UpdatePasskey(ctx context.Context, cred *webauthn.Credential, prev uint32) error {
	record, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `update picket.passkeys
		set record = $2, sign_count = $3, backup_state = $4
		where credential_id = $1 and sign_count = $5`,
		cred.ID, record, int64(cred.Authenticator.SignCount), cred.Flags.BackupState, int64(prev))
	if err != nil {
		return fmt.Errorf("updating passkey: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrConflict
	}
	return nil
}

// PasskeyInfo is what an account owner sees of a passkey.
type PasskeyInfo struct {
	ID             string    `json:"id"` // base64url credential id
	CreatedAt      time.Time `json:"created_at"`
	BackupEligible bool      `json:"backup_eligible"`
	BackupState    bool      `json:"backup_state"`
}

// ListPasskeys lists the passkeys of an account.
func (s *Store) ListPasskeys(ctx context.Context, accountID string) ([]PasskeyInfo, error) {
	rows, err := s.db.Query(ctx, `select credential_id, created_at, backup_eligible, backup_state
		from picket.passkeys where account_id = $1 order by created_at`, accountID)
	if err != nil {
		return nil, fmt.Errorf("listing passkeys: %w", err)
	}
	defer rows.Close()
	out := []PasskeyInfo{}
	for rows.Next() {
		var id []byte
		var p PasskeyInfo
		if err := rows.Scan(&id, &p.CreatedAt, &p.BackupEligible, &p.BackupState); err != nil {
			return nil, err
		}
		p.ID = encodeID(id)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePasskey removes a passkey of the account, never its last one.
func (s *Store) DeletePasskey(ctx context.Context, accountID string, credID []byte) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// lock the account's passkeys so two removals cannot leave none
		var n int
		err := tx.QueryRow(ctx, `select count(*) from (select 1 from picket.passkeys
			where account_id = $1 for update) k`, accountID).Scan(&n)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx,
			"delete from picket.passkeys where account_id = $1 and credential_id = $2",
			accountID, credID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if n <= 1 {
			return ErrLastPasskey
		}
		return nil
	})
}

// SetPseudonym changes the account's pseudonym (existing posts keep the
// one they were written under).
func (s *Store) SetPseudonym(ctx context.Context, accountID, pseudonym string) error {
	_, err := s.db.Exec(ctx, "update picket.accounts set pseudonym = $2 where id = $1",
		accountID, pseudonym)
	return err
}

// DeleteAccount removes the account, its passkeys and its sessions.
func (s *Store) DeleteAccount(ctx context.Context, accountID string) error {
	_, err := s.db.Exec(ctx, "delete from picket.accounts where id = $1", accountID)
	return err
}
