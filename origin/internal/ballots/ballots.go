// Package ballots stores ballots and votes in the ballot database. A
// simple ballot records that a member voted (a keyed hash of member and
// ballot) apart from the choice; an unlinkable ballot signs blinded tokens
// (RFC 9474, RSABSSA-SHA384-PSS-Randomized) and counts votes by nullifier,
// so that no row, and no key, links a member to a choice. See
// docs/voting-protocol.md.
package ballots

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picket-edge/picket/origin/internal/keys"
)

// Modes of a ballot.
const (
	ModeSimple     = "simple"     // Mode A
	ModeUnlinkable = "unlinkable" // Mode B
)

// Limits of a ballot's text.
const (
	MaxQuestion = 500
	MaxOption   = 200
	MinOptions  = 2
	MaxOptions  = 20
	cacheMax    = 256
)

var (
	ErrNotFound    = errors.New("no such ballot")
	ErrNotOpen     = errors.New("ballot is not open")
	ErrWrongMode   = errors.New("not allowed in this ballot's mode")
	ErrAlreadyUsed = errors.New("already used")
	ErrBadChoice   = errors.New("no such option")
	ErrWrongBallot = errors.New("vote message names another ballot")
)

// Ballot is a ballot's public description.
type Ballot struct {
	ID           string    `json:"id"`
	UnionID      string    `json:"union_id"`
	Question     string    `json:"question"`
	Options      []string  `json:"options"`
	Mode         string    `json:"mode"`
	OpensAt      time.Time `json:"opens_at"`
	ClosesAt     time.Time `json:"closes_at"`
	RunningTally bool      `json:"running_tally"`

	// unlinkable ballots only
	PublicKey *PublicKey `json:"-"`
	sealedKey string
}

// Status is "upcoming", "open" or "closed" at now.
func (b *Ballot) Status(now time.Time) string {
	switch {
	case now.Before(b.OpensAt):
		return "upcoming"
	case now.Before(b.ClosesAt):
		return "open"
	}
	return "closed"
}

// TallyVisible reports whether counts may be shown at now.
func (b *Ballot) TallyVisible(now time.Time) bool {
	return b.RunningTally || !now.Before(b.ClosesAt)
}

// Store is the ballot database.
type Store struct {
	db     *pgxpool.Pool
	keys   keys.Manager
	keygen KeyGenerator

	mu      sync.Mutex
	signers map[string]*signer // ballot id to opened private key
	ballots map[string]*Ballot // ballots do not change once made
}

// Option configures a Store.
type Option func(*Store)

// WithKeyGenerator replaces the 3072-bit key generation; for tests, which
// would otherwise spend seconds per ballot.
func WithKeyGenerator(g KeyGenerator) Option { return func(s *Store) { s.keygen = g } }

// New returns a Store on the ballot database.
func New(db *pgxpool.Pool, km keys.Manager, opts ...Option) *Store {
	s := &Store{db: db, keys: km, keygen: GenerateKey(DefaultKeyBits), signers: map[string]*signer{},
		ballots: map[string]*Ballot{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Create stores b (ID, union, question, options, mode, window set by the
// caller), making and sealing its key pair if it is unlinkable.
func (s *Store) Create(ctx context.Context, b *Ballot) error {
	var pubDER []byte
	var sealed *string
	if b.Mode == ModeUnlinkable {
		der, sk, err := newKeyPair(ctx, s.keys, s.keygen, b.ID)
		if err != nil {
			return err
		}
		pub, err := ParsePublicKey(der)
		if err != nil {
			return err
		}
		b.PublicKey, b.sealedKey, pubDER, sealed = pub, sk, der, &sk
	}
	_, err := s.db.Exec(ctx, `insert into picket.ballots
		(id, union_id, question, options, mode, opens_at, closes_at, running_tally,
		 public_key, sealed_key)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		b.ID, b.UnionID, b.Question, b.Options, b.Mode, b.OpensAt, b.ClosesAt, b.RunningTally,
		pubDER, sealed)
	if err != nil {
		return fmt.Errorf("creating ballot: %w", err)
	}
	return nil
}

const ballotColumns = `id::text, union_id::text, question, options, mode, opens_at, closes_at,
	running_tally, public_key, coalesce(sealed_key, '')`

func scanBallot(row pgx.Row) (*Ballot, error) {
	b := &Ballot{}
	var der []byte
	err := row.Scan(&b.ID, &b.UnionID, &b.Question, &b.Options, &b.Mode, &b.OpensAt,
		&b.ClosesAt, &b.RunningTally, &der, &b.sealedKey)
	if err != nil {
		return nil, err
	}
	b.OpensAt, b.ClosesAt = b.OpensAt.UTC(), b.ClosesAt.UTC()
	if der != nil {
		if b.PublicKey, err = ParsePublicKey(der); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Get loads a ballot.
func (s *Store) Get(ctx context.Context, id string) (*Ballot, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	s.mu.Lock()
	b, ok := s.ballots[id]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := scanBallot(s.db.QueryRow(ctx,
		"select "+ballotColumns+" from picket.ballots where id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading ballot: %w", err)
	}
	s.mu.Lock()
	if len(s.ballots) >= cacheMax {
		clear(s.ballots)
	}
	s.ballots[id] = b
	s.mu.Unlock()
	return b, nil
}

// ForUnion lists a union's ballots, newest opening first, at most limit.
func (s *Store) ForUnion(ctx context.Context, unionID string, limit int) ([]*Ballot, error) {
	rows, err := s.db.Query(ctx, "select "+ballotColumns+
		" from picket.ballots where union_id = $1 order by opens_at desc, id limit $2",
		unionID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing ballots: %w", err)
	}
	defer rows.Close()
	var out []*Ballot
	for rows.Next() {
		b, err := scanBallot(rows)
		if err != nil {
			return nil, fmt.Errorf("listing ballots: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// CountForUnion counts a union's ballots (for the admin aggregates).
func (s *Store) CountForUnion(ctx context.Context, unionID string) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx,
		"select count(*) from picket.ballots where union_id = $1", unionID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting ballots: %w", err)
	}
	return n, nil
}

// signerFor returns the ballot's opened private key, unsealing it once.
func (s *Store) signerFor(ctx context.Context, b *Ballot) (*signer, error) {
	s.mu.Lock()
	sg, ok := s.signers[b.ID]
	s.mu.Unlock()
	if ok {
		return sg, nil
	}
	sg, err := openSigner(ctx, s.keys, b.ID, b.sealedKey, b.PublicKey)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	// a crude bound: open ballots are few, and reloading costs little
	if len(s.signers) >= cacheMax {
		clear(s.signers)
	}
	s.signers[b.ID] = sg
	s.mu.Unlock()
	return sg, nil
}
