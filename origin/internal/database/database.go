// Package database knows the origin's three PostgreSQL databases: their
// roles, the environment variables that carry their connection URLs, their
// embedded migrations, and how to create (Bootstrap), migrate (Migrate) and
// open (Open) them.
//
// Each database has two roles: an owner that owns the schema and runs the
// migrations, and an app login role that the API server uses, with DML on
// the database's own tables and nothing else. CONNECT is granted to a
// database's own two roles only, so a leaked app password for one database
// opens no other.
package database

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed migrations
var migrations embed.FS

// Spec describes one of the origin's databases.
type Spec struct {
	Name    string   // database name, also the key in /health
	Schemas []string // schemas the app role may use (DML on their tables)
}

// Specs lists the origin's databases in a fixed order.
var Specs = []Spec{
	{Name: "content", Schemas: []string{"picket", "logs"}},
	{Name: "membership", Schemas: []string{"picket"}},
	{Name: "ballot", Schemas: []string{"picket"}},
}

// Names returns the database names in the order of Specs.
func Names() []string {
	names := make([]string, len(Specs))
	for i, s := range Specs {
		names[i] = s.Name
	}
	return names
}

// OwnerRole owns the database and its schemas and runs migrations.
func (s Spec) OwnerRole() string { return "picket_" + s.Name + "_owner" }

// AppRole is the least-privileged login role of the API server.
func (s Spec) AppRole() string { return "picket_" + s.Name + "_app" }

func (s Spec) envPrefix() string { return "PICKET_" + strings.ToUpper(s.Name) }

// AppEnv names the variable holding the app role's connection URL.
func (s Spec) AppEnv() string { return s.envPrefix() + "_DATABASE_URL" }

// OwnerEnv names the variable holding the owner role's connection URL.
func (s Spec) OwnerEnv() string { return s.envPrefix() + "_OWNER_URL" }

// AdminEnv names an optional per-database superuser URL that overrides
// PICKET_PG_ADMIN_URL in bootstrap (for databases on separate clusters).
func (s Spec) AdminEnv() string { return s.envPrefix() + "_ADMIN_URL" }

// Migrations returns the embedded migration files of the database.
func (s Spec) Migrations() (fs.FS, error) {
	return fs.Sub(migrations, "migrations/"+s.Name)
}

// versionTable records the applied migration version; it lives in public,
// where the app role has no privileges.
const versionTable = "public.schema_version"
