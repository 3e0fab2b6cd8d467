package database

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// Migrate applies the pending embedded migrations of every database, each
// through its owner URL (ownerURLs maps name to URL), then grants the app
// role DML on the tables of its schemas. A second run changes nothing.
func Migrate(ctx context.Context, ownerURLs map[string]string, progress io.Writer) error {
	for _, s := range Specs {
		if err := migrateOne(ctx, s, ownerURLs[s.Name], progress); err != nil {
			return fmt.Errorf("migrating database %s: %w", s.Name, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, s Spec, ownerURL string, w io.Writer) error {
	conn, err := connect(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("connecting as owner: %w", err)
	}
	defer conn.Close(ctx)

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("preparing migrator: %w", err)
	}
	files, err := s.Migrations()
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	m.OnStart = func(seq int32, name, direction, _ string) {
		fmt.Fprintf(w, "%s: applying %s (%s)\n", s.Name, name, direction)
	}
	if err := m.Migrate(ctx); err != nil {
		return err
	}

	if err := grantApp(ctx, conn, s); err != nil {
		return err
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading version: %w", err)
	}
	fmt.Fprintf(w, "%s: at version %d, %s granted DML\n", s.Name, v, s.AppRole())
	return nil
}

// grantApp gives the app role what the API needs and no more: use of its
// schemas, DML on their tables, use of their sequences. GRANT of a
// privilege already held is a no-op, so this is safe on every run.
func grantApp(ctx context.Context, conn *pgx.Conn, s Spec) error {
	app := pgx.Identifier{s.AppRole()}.Sanitize()
	for _, schema := range s.Schemas {
		sc := pgx.Identifier{schema}.Sanitize()
		stmts := []string{
			"grant usage on schema " + sc + " to " + app,
			"grant select, insert, update, delete on all tables in schema " + sc + " to " + app,
			"grant usage, select on all sequences in schema " + sc + " to " + app,
		}
		for _, st := range stmts {
			if _, err := conn.Exec(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
	}
	return nil
}
