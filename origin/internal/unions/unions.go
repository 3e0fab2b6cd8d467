// Package unions stores unions and posts (content database) and
// memberships (membership database). A membership row is a keyed hash of
// (account, union) made by the key manager, so the membership database
// alone cannot say who belongs where; see docs/origin-privacy.md.
package unions

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picket-edge/picket/origin/internal/keys"
)

// KeyName is the key-manager key behind membership, admin and blob hashes.
const KeyName = "membership"

var (
	ErrNotFound  = errors.New("not found")
	ErrSlugTaken = errors.New("slug taken")
	ErrNotMember = errors.New("not a member")
	ErrNotAdmin  = errors.New("not an admin")
)

// Store is the union, post and membership store.
type Store struct {
	content    *pgxpool.Pool
	membership *pgxpool.Pool
	keys       keys.Manager
}

// New returns a Store.
func New(content, membership *pgxpool.Pool, km keys.Manager) *Store {
	return &Store{content: content, membership: membership, keys: km}
}

// Union is a union's public profile.
type Union struct {
	ID          string `json:"id"`
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Create stores a union and makes its creator its admin and first member.
func (s *Store) Create(ctx context.Context, accountID string, u *Union) error {
	_, err := s.content.Exec(ctx,
		"insert into picket.unions (id, slug, name, description) values ($1, $2, $3, $4)",
		u.ID, u.Slug, u.Name, u.Description)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrSlugTaken
	}
	if err != nil {
		return fmt.Errorf("creating union: %w", err)
	}

	// two databases, no shared transaction: undo the union if its admin
	// cannot be recorded
	if err := s.grant(ctx, "admins", "admin", accountID, u.ID); err != nil {
		_, _ = s.content.Exec(ctx, "delete from picket.unions where id = $1", u.ID)
		return err
	}
	if err := s.grant(ctx, "memberships", "member", accountID, u.ID); err != nil {
		_, _ = s.content.Exec(ctx, "delete from picket.unions where id = $1", u.ID)
		return err
	}
	return nil
}

// hashFor makes the keyed hash of one relation under the latest version.
func (s *Store) hashFor(ctx context.Context, role, accountID, unionID string) (string, error) {
	return s.keys.HMAC(ctx, KeyName, []byte(role+"|"+accountID+"|"+unionID))
}

// hashesFor makes the keyed hashes under every usable version.
func (s *Store) hashesFor(ctx context.Context, role, accountID, unionID string) ([]string, error) {
	return s.keys.HMACAll(ctx, KeyName, []byte(role+"|"+accountID+"|"+unionID))
}

func (s *Store) grant(ctx context.Context, table, role, accountID, unionID string) error {
	if ok, err := s.has(ctx, table, role, accountID, unionID); err != nil || ok {
		return err
	}
	h, err := s.hashFor(ctx, role, accountID, unionID)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", role, err)
	}
	_, err = s.membership.Exec(ctx, "insert into picket."+table+
		" (hash, union_id) values ($1, $2) on conflict do nothing", h, unionID)
	if err != nil {
		return fmt.Errorf("recording %s: %w", role, err)
	}
	return nil
}

func (s *Store) has(ctx context.Context, table, role, accountID, unionID string) (bool, error) {
	hs, err := s.hashesFor(ctx, role, accountID, unionID)
	if err != nil {
		return false, fmt.Errorf("hashing %s: %w", role, err)
	}
	var ok bool
	err = s.membership.QueryRow(ctx, "select exists (select 1 from picket."+table+
		" where hash = any($1))", hs).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", role, err)
	}
	return ok, nil
}

// Join makes the account a member; joining twice is not an error.
func (s *Store) Join(ctx context.Context, accountID, unionID string) error {
	return s.grant(ctx, "memberships", "member", accountID, unionID)
}

// Leave ends a membership (under any key version); reports whether there
// was one.
func (s *Store) Leave(ctx context.Context, accountID, unionID string) (bool, error) {
	hs, err := s.hashesFor(ctx, "member", accountID, unionID)
	if err != nil {
		return false, err
	}
	tag, err := s.membership.Exec(ctx, "delete from picket.memberships where hash = any($1)", hs)
	if err != nil {
		return false, fmt.Errorf("leaving: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// IsMember answers whether the account belongs to the union.
func (s *Store) IsMember(ctx context.Context, accountID, unionID string) (bool, error) {
	return s.has(ctx, "memberships", "member", accountID, unionID)
}

// IsAdmin answers whether the account administers the union.
func (s *Store) IsAdmin(ctx context.Context, accountID, unionID string) (bool, error) {
	return s.has(ctx, "admins", "admin", accountID, unionID)
}

// BySlug loads a union's public profile.
func (s *Store) BySlug(ctx context.Context, slug string) (*Union, error) {
	u := &Union{}
	err := s.content.QueryRow(ctx,
		"select id::text, slug, name, description from picket.unions where slug = $1", slug).
		Scan(&u.ID, &u.Slug, &u.Name, &u.Description)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("loading union: %w", err)
	}
	return u, nil
}

// List returns public union profiles by name, at most limit.
func (s *Store) List(ctx context.Context, limit int) ([]Union, error) {
	rows, err := s.content.Query(ctx, `select id::text, slug, name, description
		from picket.unions order by name, slug limit $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing unions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Union])
}

// Stats are the aggregates a union's admins see; never who.
type Stats struct {
	Members int64 `json:"members"`
	Posts   int64 `json:"posts"`
	Reports int64 `json:"reports"`
	Ballots int64 `json:"ballots"`
}

// Stats counts a union's members, posts and reports.
func (s *Store) Stats(ctx context.Context, unionID string) (Stats, error) {
	var st Stats
	err := s.membership.QueryRow(ctx,
		"select count(*) from picket.memberships where union_id = $1", unionID).Scan(&st.Members)
	if err != nil {
		return st, fmt.Errorf("counting members: %w", err)
	}
	err = s.content.QueryRow(ctx, `select count(*), coalesce(sum(report_count), 0)
		from picket.posts where union_id = $1`, unionID).Scan(&st.Posts, &st.Reports)
	if err != nil {
		return st, fmt.Errorf("counting posts: %w", err)
	}
	return st, nil
}
