// Package dbtest prepares the origin's databases on pgtest clusters.
package dbtest

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/database"
)

// URLs are the role URLs of a bootstrapped, migrated set of databases,
// keyed by database name.
type URLs struct {
	App   map[string]string
	Owner map[string]string
}

// Setup bootstraps and migrates the three databases. clusters maps a
// database name to the cluster that holds it; names not in the map go to
// the cluster under key "".
func Setup(t testing.TB, clusters map[string]*pgtest.Cluster) URLs {
	t.Helper()
	ctx := context.Background()

	admin := make(map[string]string)
	for _, s := range database.Specs {
		c, ok := clusters[s.Name]
		if !ok {
			c = clusters[""]
		}
		admin[s.Name] = c.URL("postgres")
	}

	envOut := filepath.Join(t.TempDir(), "origin.env")
	err := database.Bootstrap(ctx, database.BootstrapConfig{
		AdminURLs: admin, EnvOut: envOut, Progress: io.Discard,
	})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	vals, err := database.ReadEnvFile(envOut)
	if err != nil {
		t.Fatalf("reading env file: %v", err)
	}

	u := URLs{App: map[string]string{}, Owner: map[string]string{}}
	for _, s := range database.Specs {
		u.App[s.Name] = vals[s.AppEnv()]
		u.Owner[s.Name] = vals[s.OwnerEnv()]
	}
	if err := database.Migrate(ctx, u.Owner, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return u
}

// Open opens the app pools and closes them when the test ends.
func Open(t testing.TB, u URLs) database.Pools {
	t.Helper()
	pools, err := database.Open(context.Background(), u.App)
	if err != nil {
		t.Fatalf("opening pools: %v", err)
	}
	t.Cleanup(pools.Close)
	return pools
}
