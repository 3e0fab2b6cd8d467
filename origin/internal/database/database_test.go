package database_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/database"
)

// TestDatabases runs on one cluster: bootstrap, migrate, re-run both, then
// check the roles' boundaries.
func TestDatabases(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()
	admin := map[string]string{}
	for _, n := range database.Names() {
		admin[n] = c.URL("postgres")
	}
	envOut := filepath.Join(t.TempDir(), "origin.env")

	var progress bytes.Buffer
	boot := func() map[string]string {
		t.Helper()
		err := database.Bootstrap(ctx, database.BootstrapConfig{
			AdminURLs: admin, EnvOut: envOut, Progress: &progress,
		})
		if err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
		vals, err := database.ReadEnvFile(envOut)
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	first := boot()

	t.Run("env file is private and complete", func(t *testing.T) {
		fi, err := os.Stat(envOut)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("mode: got %o, want 600", got)
		}
		for _, s := range database.Specs {
			for _, k := range []string{s.AppEnv(), s.OwnerEnv()} {
				if first[k] == "" {
					t.Errorf("%s: got empty, want a URL", k)
				}
			}
		}
	})

	owner := map[string]string{}
	app := map[string]string{}
	for _, s := range database.Specs {
		owner[s.Name] = first[s.OwnerEnv()]
		app[s.Name] = first[s.AppEnv()]
	}

	t.Run("migrations up from empty", func(t *testing.T) {
		if err := database.Migrate(ctx, owner, &progress); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		for _, s := range database.Specs {
			if v := version(t, owner[s.Name]); v < 1 {
				t.Errorf("%s version: got %d, want >= 1", s.Name, v)
			}
		}
	})

	t.Run("second runs change nothing", func(t *testing.T) {
		before := snapshots(t, c)
		if again := boot(); !reflect.DeepEqual(again, first) {
			t.Error("bootstrap re-run: role URLs changed, want passwords kept")
		}
		if err := database.Migrate(ctx, owner, &progress); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if after := snapshots(t, c); !reflect.DeepEqual(before, after) {
			t.Errorf("catalog after second run:\ngot  %v\nwant %v", after, before)
		}
	})

	t.Run("progress names no secret", func(t *testing.T) {
		out := progress.String()
		for k, v := range first {
			if pw := passwordOf(t, v); strings.Contains(out, pw) {
				t.Errorf("progress holds the password of %s", k)
			}
			if strings.Contains(out, v) {
				t.Errorf("progress holds the URL of %s", k)
			}
		}
	})

	t.Run("cross-database connect refused", func(t *testing.T) {
		testCrossConnect(t, first)
	})

	t.Run("app role has DML only", func(t *testing.T) {
		testAppPrivileges(t, app)
	})
}

func testCrossConnect(t *testing.T, urls map[string]string) {
	ctx := context.Background()
	for _, from := range database.Specs {
		for _, to := range database.Specs {
			if from.Name == to.Name {
				continue
			}
			for _, role := range []string{"app", "owner"} {
				src := urls[from.AppEnv()]
				if role == "owner" {
					src = urls[from.OwnerEnv()]
				}
				name := fmt.Sprintf("%s %s into %s", from.Name, role, to.Name)
				t.Run(name, func(t *testing.T) {
					conn, err := pgx.Connect(ctx, strings.Replace(src, "/"+from.Name+"?",
						"/"+to.Name+"?", 1))
					if err == nil {
						conn.Close(ctx)
						t.Fatal("connect: got nil error, want insufficient_privilege")
					}
					if code := sqlState(err); code != "42501" {
						t.Fatalf("SQLSTATE: got %q (%v), want 42501", code, err)
					}
				})
			}
		}
	}
}

func testAppPrivileges(t *testing.T, app map[string]string) {
	ctx := context.Background()
	refused := []struct {
		name string
		db   string
		sql  string
	}{
		{name: "create table in own schema", db: "content", sql: "create table picket.x (i int)"},
		{name: "create table in public", db: "membership", sql: "create table public.x (i int)"},
		{name: "create schema", db: "ballot", sql: "create schema evil"},
		{name: "drop table", db: "content", sql: "drop table logs.events"},
		{name: "alter table", db: "content", sql: "alter table logs.events add column ip text"},
		{name: "truncate", db: "content", sql: "truncate logs.events"},
		{name: "read migration version", db: "content", sql: "select * from public.schema_version"},
		{name: "temporary table", db: "ballot", sql: "create temporary table t (i int)"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, app[tt.db])
			if err != nil {
				t.Fatalf("connect as app: %v", err)
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, tt.sql)
			if code := sqlState(err); code != "42501" {
				t.Fatalf("%s: got SQLSTATE %q (%v), want 42501", tt.sql, code, err)
			}
		})
	}

	t.Run("dml on own table", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, app["content"])
		if err != nil {
			t.Fatalf("connect as app: %v", err)
		}
		defer conn.Close(ctx)
		for _, sql := range []string{
			"insert into logs.events (kind) values ('test.event')",
			"select count(*) from logs.events",
			"delete from logs.events where kind = 'test.event'",
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Errorf("%s: got %v, want nil", sql, err)
			}
		}
	})
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func passwordOf(t *testing.T, rawURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Password
}

func version(t *testing.T, ownerURL string) int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int32
	if err := conn.QueryRow(ctx, "select version from public.schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// snapshots describes, per database, what a migration or bootstrap could
// change: relations, columns, privileges, schema owners and the version.
func snapshots(t *testing.T, c *pgtest.Cluster) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	for _, n := range database.Names() {
		conn, err := pgx.Connect(ctx, c.URL(n))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, `
select format('%s.%s %s acl=%s cols=%s', n.nspname, c.relname, c.relkind,
       coalesce(c.relacl::text, ''),
       (select string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ','
                          order by a.attnum)
          from pg_attribute a where a.attrelid = c.oid and a.attnum > 0))
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
union all
select format('schema %s owner=%s acl=%s', nspname, nspowner::regrole, coalesce(nspacl::text, ''))
  from pg_namespace where nspname not like 'pg\_%' and nspname <> 'information_schema'
union all
select format('database acl=%s', datacl::text) from pg_database where datname = current_database()
union all
select 'version ' || version from public.schema_version
order by 1`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[n] = lines
		conn.Close(ctx)
	}
	return out
}
