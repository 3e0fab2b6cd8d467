package unions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Post is a public post in a union.
type Post struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"` // the pseudonym at the time of writing
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// AddPost stores a post; the caller has checked membership.
func (s *Store) AddPost(ctx context.Context, unionID string, p *Post) error {
	_, err := s.content.Exec(ctx, `insert into picket.posts
		(id, union_id, author_pseudonym, body, created_at) values ($1, $2, $3, $4, $5)`,
		p.ID, unionID, p.Author, p.Body, p.CreatedAt)
	if err != nil {
		return fmt.Errorf("storing post: %w", err)
	}
	return nil
}

// Posts lists a union's newest posts, at most limit.
func (s *Store) Posts(ctx context.Context, unionID string, limit int) ([]Post, error) {
	rows, err := s.content.Query(ctx, `select id::text, author_pseudonym, body, created_at
		from picket.posts where union_id = $1 order by created_at desc, id limit $2`,
		unionID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing posts: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Post])
}

// Report counts one report of a post in the union. Who reported is not
// kept.
func (s *Store) Report(ctx context.Context, unionID, postID string) error {
	tag, err := s.content.Exec(ctx, `update picket.posts set report_count = report_count + 1
		where id::text = $1 and union_id = $2`, postID, unionID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("reporting post: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
