package database

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// AdminEnv names the superuser URL bootstrap uses.
const AdminEnv = "PICKET_PG_ADMIN_URL"

// BootstrapConfig is the input of Bootstrap.
type BootstrapConfig struct {
	// AdminURLs maps a database name to a superuser postgres:// URL of the
	// cluster that holds it.
	AdminURLs map[string]string
	// EnvOut is the file that receives the role URLs (mode 0600). If it
	// exists, the passwords in it are reused.
	EnvOut string
	// Progress receives one line per step; never a password or URL.
	Progress io.Writer
}

// Bootstrap creates, idempotently, the databases and their roles, and writes
// the role URLs to cfg.EnvOut. A re-run keeps the existing passwords.
func Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	previous, err := ReadEnvFile(cfg.EnvOut)
	if err != nil {
		return err
	}

	out := make(map[string]string)
	for _, s := range Specs {
		admin, ok := cfg.AdminURLs[s.Name]
		if !ok || admin == "" {
			return fmt.Errorf("no admin URL for database %s", s.Name)
		}
		urls, err := bootstrapOne(ctx, s, admin, previous, cfg.Progress)
		if err != nil {
			return fmt.Errorf("bootstrapping database %s: %w", s.Name, err)
		}
		for k, v := range urls {
			out[k] = v
		}
	}

	if err := writeEnvFile(cfg.EnvOut, out); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Progress, "wrote role URLs to %s (mode 0600)\n", cfg.EnvOut)
	return nil
}

func bootstrapOne(
	ctx context.Context, s Spec, admin string, previous map[string]string, progress io.Writer,
) (map[string]string, error) {
	base, err := parseAdminURL(admin)
	if err != nil {
		return nil, err
	}
	ownerPW := passwordFrom(previous[s.OwnerEnv()])
	appPW := passwordFrom(previous[s.AppEnv()])
	if ownerPW == "" {
		if ownerPW, err = newPassword(); err != nil {
			return nil, err
		}
	}
	if appPW == "" {
		if appPW, err = newPassword(); err != nil {
			return nil, err
		}
	}

	conn, err := connect(ctx, base.String())
	if err != nil {
		return nil, fmt.Errorf("connecting as admin: %w", err)
	}
	defer conn.Close(ctx)

	if err := ensureRole(ctx, conn, s.OwnerRole(), ownerPW, progress); err != nil {
		return nil, err
	}
	if err := ensureRole(ctx, conn, s.AppRole(), appPW, progress); err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, conn, s, progress); err != nil {
		return nil, err
	}
	if err := restrictPublicSchema(ctx, withDatabase(base, s.Name)); err != nil {
		return nil, err
	}

	return map[string]string{
		s.OwnerEnv(): withRole(base, s.OwnerRole(), ownerPW, s.Name),
		s.AppEnv():   withRole(base, s.AppRole(), appPW, s.Name),
	}, nil
}

// connect opens one connection; its error never carries the URL.
func connect(ctx context.Context, rawURL string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, errors.New("invalid connection URL")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redact(err)
	}
	return conn, nil
}

func ensureRole(ctx context.Context, conn *pgx.Conn, role, password string, w io.Writer) error {
	var exists bool
	err := conn.QueryRow(ctx,
		"select exists (select 1 from pg_roles where rolname = $1)", role).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking up role %s: %w", role, err)
	}

	verb, state := "create", "created"
	if exists {
		verb, state = "alter", "exists, password kept"
	}
	// utility statements take no parameters; the name is ours and the
	// password is hex, and both are quoted anyway
	stmt := fmt.Sprintf("%s role %s with login nosuperuser nocreatedb nocreaterole "+
		"noreplication nobypassrls password %s",
		verb, pgx.Identifier{role}.Sanitize(), quoteLiteral(password))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s role %s: %w", verb, role, err)
	}
	fmt.Fprintf(w, "role %s: %s\n", role, state)
	return nil
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn, s Spec, w io.Writer) error {
	db := pgx.Identifier{s.Name}.Sanitize()
	owner := pgx.Identifier{s.OwnerRole()}.Sanitize()
	app := pgx.Identifier{s.AppRole()}.Sanitize()

	var exists bool
	err := conn.QueryRow(ctx,
		"select exists (select 1 from pg_database where datname = $1)", s.Name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking up database: %w", err)
	}

	stmts := []string{
		"alter database " + db + " owner to " + owner,
	}
	state := "exists"
	if !exists {
		stmts = []string{"create database " + db + " owner " + owner +
			" template template0 encoding 'UTF8'"}
		state = "created"
	}
	stmts = append(stmts,
		"revoke all on database "+db+" from public",
		"grant connect, temporary, create on database "+db+" to "+owner,
		"grant connect on database "+db+" to "+app,
	)
	for _, st := range stmts {
		if _, err := conn.Exec(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	fmt.Fprintf(w, "database %s: %s, connect limited to %s and %s\n",
		s.Name, state, s.OwnerRole(), s.AppRole())
	return nil
}

// restrictPublicSchema takes every right on schema public from PUBLIC, so
// the app role cannot create objects there (PostgreSQL before 15 allowed it).
func restrictPublicSchema(ctx context.Context, u *url.URL) error {
	conn, err := connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("connecting as admin: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "revoke all on schema public from public"); err != nil {
		return fmt.Errorf("restricting schema public: %w", err)
	}
	return nil
}

func parseAdminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("the admin URL must be a postgres:// URL")
	}
	return u, nil
}

// withDatabase is the admin URL pointed at database db.
func withDatabase(base *url.URL, db string) *url.URL {
	u := *base
	u.Path = "/" + db
	u.RawPath = ""
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	return &u
}

// withRole is the admin URL's host, port and options with role's
// credentials and database db.
func withRole(base *url.URL, role, password, db string) string {
	u := withDatabase(base, db)
	u.User = url.UserPassword(role, password)
	q := u.Query()
	q.Del("user")
	q.Del("password")
	u.RawQuery = q.Encode()
	return u.String()
}

func passwordFrom(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ReadEnvFile reads KEY='value' lines; a missing file is empty.
func ReadEnvFile(path string) (map[string]string, error) {
	vals := make(map[string]string)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return vals, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		vals[k] = unquoteShell(v)
	}
	return vals, sc.Err()
}

func unquoteShell(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
	}
	return v
}

func quoteShell(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// writeEnvFile replaces path atomically with a 0600 file of shell lines.
func writeEnvFile(path string, vals map[string]string) error {
	var b strings.Builder
	b.WriteString("# written by origin bootstrap; holds database passwords, keep it private\n")
	for _, s := range Specs {
		for _, k := range []string{s.AppEnv(), s.OwnerEnv()} {
			fmt.Fprintf(&b, "%s=%s\n", k, quoteShell(vals[k]))
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), ".origin-env-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
