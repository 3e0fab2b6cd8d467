package cli

import (
	"context"
	"fmt"

	"github.com/picket-edge/picket/origin/internal/database"
)

func bootstrap(ctx context.Context, args []string, env Env, st Streams) error {
	fs := newFlags("bootstrap", st)
	envOut := fs.String("env-out", "", "file that receives the role URLs (mode 0600)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *envOut == "" {
		return fmt.Errorf("%w: bootstrap: -env-out is required", errUsage)
	}

	admin := map[string]string{}
	fallback := env(database.AdminEnv)
	for _, s := range database.Specs {
		if v := env(s.AdminEnv()); v != "" {
			admin[s.Name] = v
			continue
		}
		if fallback == "" {
			return fmt.Errorf("missing environment variable %s", database.AdminEnv)
		}
		admin[s.Name] = fallback
	}

	return database.Bootstrap(ctx, database.BootstrapConfig{
		AdminURLs: admin,
		EnvOut:    *envOut,
		Progress:  st.Out,
	})
}

func migrateCmd(ctx context.Context, args []string, env Env, st Streams) error {
	if err := parseFlags(newFlags("migrate", st), args); err != nil {
		return err
	}
	urls, err := urlsFromEnv(env, database.Spec.OwnerEnv)
	if err != nil {
		return err
	}
	return database.Migrate(ctx, urls, st.Out)
}

// urlsFromEnv maps each database name to the variable that key names.
func urlsFromEnv(env Env, key func(database.Spec) string) (map[string]string, error) {
	keys := make([]string, len(database.Specs))
	for i, s := range database.Specs {
		keys[i] = key(s)
	}
	vals, err := requireEnv(env, keys...)
	if err != nil {
		return nil, err
	}
	urls := make(map[string]string, len(keys))
	for _, s := range database.Specs {
		urls[s.Name] = vals[key(s)]
	}
	return urls, nil
}
