package unions

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MaxBlobBytes caps a member's encrypted list of unions.
const MaxBlobBytes = 32 << 10

// Blob returns the account's encrypted membership list, or ErrNotFound.
// The server cannot read it: the app encrypts it on the device.
func (s *Store) Blob(ctx context.Context, accountID string) ([]byte, error) {
	hs, err := s.keys.HMACAll(ctx, KeyName, []byte("blob|"+accountID))
	if err != nil {
		return nil, err
	}
	var b []byte
	err = s.membership.QueryRow(ctx,
		"select blob from picket.blobs where owner_hash = any($1) limit 1", hs).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading blob: %w", err)
	}
	return b, nil
}

// PutBlob replaces the account's encrypted membership list, re-keying its
// row to the latest key version.
func (s *Store) PutBlob(ctx context.Context, accountID string, blob []byte) error {
	hs, err := s.keys.HMACAll(ctx, KeyName, []byte("blob|"+accountID))
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.membership, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "delete from picket.blobs where owner_hash = any($1)", hs); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "insert into picket.blobs (owner_hash, blob) values ($1, $2)",
			hs[0], blob)
		return err
	})
}
