package ballots

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MemberKeyName is the key-manager key behind the (member, ballot) hashes.
const MemberKeyName = "ballot-member"

// memberHashes are the keyed hashes of (account, ballot) under every usable
// key version, newest first.
func (s *Store) memberHashes(ctx context.Context, accountID, ballotID string) ([]string, error) {
	hs, err := s.keys.HMACAll(ctx, MemberKeyName, memberInput(accountID, ballotID))
	if err != nil || len(hs) == 0 {
		return nil, fmt.Errorf("hashing member: %w", err)
	}
	return hs, nil
}

func memberInput(accountID, ballotID string) []byte {
	return []byte("voter|" + accountID + "|" + ballotID)
}

func (b *Ballot) checkOpen(mode string, now time.Time) error {
	if b.Mode != mode {
		return ErrWrongMode
	}
	if b.Status(now) != "open" {
		return ErrNotOpen
	}
	return nil
}

// IssueToken blind-signs a member's blinded message, once per member and
// ballot. The caller has checked membership. A retry with the same blinded
// message gets the same blind signature back (RSA signing is
// deterministic), so a lost answer does not cost the member their vote; a
// different blinded message is refused with ErrAlreadyUsed.
func (s *Store) IssueToken(ctx context.Context, b *Ballot, accountID string, blinded []byte,
	now time.Time,
) ([]byte, error) {
	if err := b.checkOpen(ModeUnlinkable, now); err != nil {
		return nil, err
	}
	sg, err := s.signerFor(ctx, b)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(blinded)
	hs, err := s.memberHashes(ctx, accountID, b.ID)
	if err != nil {
		return nil, err
	}

	// a member who has a token gets no more RSA work out of the server
	// than a repeat of the same answer; the look-up also covers hashes made
	// before a key rotation
	prev, err := s.issuedDigest(ctx, b.ID, hs)
	if err != nil {
		return nil, err
	}
	if prev != nil && !bytes.Equal(prev, digest[:]) {
		return nil, ErrAlreadyUsed
	}
	// sign before recording: a failure after the row is written would
	// lose the member's token
	blindSig, err := sg.blindSign(blinded)
	if err != nil || prev != nil {
		return blindSig, err
	}

	// the primary key (ballot_id, member_hash) decides between racing
	// requests: one row is written, the others read it back
	tag, err := s.db.Exec(ctx, `insert into picket.issuances (ballot_id, member_hash,
		request_digest) values ($1, $2, $3) on conflict do nothing`, b.ID, hs[0], digest[:])
	if err != nil {
		return nil, fmt.Errorf("recording issuance: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return blindSig, nil
	}
	if prev, err = s.issuedDigest(ctx, b.ID, hs); err != nil {
		return nil, err
	}
	if !bytes.Equal(prev, digest[:]) {
		return nil, ErrAlreadyUsed
	}
	return blindSig, nil
}

func (s *Store) issuedDigest(ctx context.Context, ballotID string, hs []string) ([]byte, error) {
	var d []byte
	err := s.db.QueryRow(ctx, `select request_digest from picket.issuances
		where ballot_id = $1 and member_hash = any($2) limit 1`, ballotID, hs).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up issuance: %w", err)
	}
	return d, nil
}

// VoteUnlinkable counts a finalised token: prepared is the prepared
// message (random prefix and Message), sig its signature. It is refused
// unless the signature is canonical and verifies under the ballot's key,
// the message names this ballot and one of its options, and the nullifier
// is unused. The unique index on (ballot_id, nullifier) decides between
// racing submissions: exactly one is counted, the others get
// ErrAlreadyUsed. The signature bytes are never stored or compared.
func (s *Store) VoteUnlinkable(ctx context.Context, b *Ballot, prepared, sig []byte,
	now time.Time,
) error {
	if err := b.checkOpen(ModeUnlinkable, now); err != nil {
		return err
	}
	m, err := ParsePrepared(prepared)
	if err != nil {
		return err
	}
	if m.BallotID != b.ID {
		return ErrWrongBallot
	}
	if m.Choice >= len(b.Options) {
		return ErrBadChoice
	}
	if err := b.PublicKey.Verify(prepared, sig); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `insert into picket.votes (ballot_id, nullifier, choice)
		values ($1, $2, $3) on conflict do nothing`, b.ID, m.Nullifier[:], m.Choice)
	if err != nil {
		return fmt.Errorf("recording vote: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrAlreadyUsed
	}
	return nil
}

// VoteSimple records a member's choice and, apart from it, that the member
// voted. The caller has checked membership.
func (s *Store) VoteSimple(ctx context.Context, b *Ballot, accountID string, choice int,
	now time.Time,
) error {
	if err := b.checkOpen(ModeSimple, now); err != nil {
		return err
	}
	if choice < 0 || choice >= len(b.Options) {
		return ErrBadChoice
	}
	hs, err := s.memberHashes(ctx, accountID, b.ID)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var voted bool
		err := tx.QueryRow(ctx, `select exists (select 1 from picket.voters
			where ballot_id = $1 and member_hash = any($2))`, b.ID, hs).Scan(&voted)
		if err != nil {
			return fmt.Errorf("looking up voter: %w", err)
		}
		if voted {
			return ErrAlreadyUsed
		}
		tag, err := tx.Exec(ctx, `insert into picket.voters (ballot_id, member_hash)
			values ($1, $2) on conflict do nothing`, b.ID, hs[0])
		if err != nil {
			return fmt.Errorf("recording voter: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrAlreadyUsed
		}
		_, err = tx.Exec(ctx, "insert into picket.votes (ballot_id, choice) values ($1, $2)",
			b.ID, choice)
		if err != nil {
			return fmt.Errorf("recording vote: %w", err)
		}
		return nil
	})
}

// Tally is the count of votes per option.
type Tally struct {
	Counts []int64 `json:"counts"` // in the order of the ballot's options
	Total  int64   `json:"total"`
}

// Tally counts the ballot's votes per option.
func (s *Store) Tally(ctx context.Context, b *Ballot) (Tally, error) {
	t := Tally{Counts: make([]int64, len(b.Options))}
	rows, err := s.db.Query(ctx, `select choice, count(*) from picket.votes
		where ballot_id = $1 group by choice`, b.ID)
	if err != nil {
		return t, fmt.Errorf("counting votes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var choice int
		var n int64
		if err := rows.Scan(&choice, &n); err != nil {
			return t, fmt.Errorf("counting votes: %w", err)
		}
		if choice < len(t.Counts) {
			t.Counts[choice] = n
		}
		t.Total += n
	}
	return t, rows.Err()
}

// Turnout is what a ballot's admins see besides the tally.
type Turnout struct {
	TokensIssued int64 `json:"tokens_issued"` // unlinkable ballots
	VotesCast    int64 `json:"votes_cast"`
}

// Turnout counts issued tokens and cast votes.
func (s *Store) Turnout(ctx context.Context, b *Ballot) (Turnout, error) {
	var t Turnout
	err := s.db.QueryRow(ctx, `select
		(select count(*) from picket.issuances where ballot_id = $1),
		(select count(*) from picket.votes where ballot_id = $1)`, b.ID).
		Scan(&t.TokensIssued, &t.VotesCast)
	if err != nil {
		return t, fmt.Errorf("counting turnout: %w", err)
	}
	return t, nil
}
