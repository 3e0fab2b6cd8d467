// Package cli is the command line of the origin binary: bootstrap, migrate
// and serve. Configuration comes from environment variables (so secrets stay
// off the command line) and a few flags; no connection URL is ever printed.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Env looks up an environment variable (os.Getenv in main, a map in tests).
type Env func(key string) string

// Streams are where a command writes.
type Streams struct {
	Out io.Writer // progress lines
	Err io.Writer // usage, errors and the server's JSON log
}

const usage = `usage: origin <command> [flags]

commands:
  bootstrap  create the databases content, membership, ballot and their roles
             env: PICKET_PG_ADMIN_URL (superuser postgres:// URL)
                  PICKET_<DB>_ADMIN_URL overrides it for one database (optional)
             flags: -env-out FILE (required) receives the role URLs, mode 0600;
                    an existing FILE's passwords are reused
  migrate    apply the embedded migrations and grant the app roles
             env: PICKET_CONTENT_OWNER_URL PICKET_MEMBERSHIP_OWNER_URL
                  PICKET_BALLOT_OWNER_URL
  serve      run the API
             env: PICKET_CONTENT_DATABASE_URL PICKET_MEMBERSHIP_DATABASE_URL
                  PICKET_BALLOT_DATABASE_URL
                  PICKET_ORIGIN_LISTEN (default 127.0.0.1:9000; or unix:/path.sock)
                  PICKET_WEBAUTHN_RP_ID (default localhost)
                  PICKET_WEBAUTHN_ORIGINS (comma list, default https://<rp id>)
                  PICKET_KEYRING_DIR (default .data/keyring)
                  PICKET_MASTER_KEY (base64, 32 bytes) or PICKET_MASTER_KEY_FILE
                  (default: master.key beside the keyring dir, made on first run)
  purge      delete events older than 24 hours, expired ceremonies and sessions
             env: as serve (the three PICKET_<DB>_DATABASE_URL)
  keys       info NAME | rotate NAME | min-version NAME N [force]
             env: PICKET_KEYRING_DIR, PICKET_MASTER_KEY or PICKET_MASTER_KEY_FILE
`

// errUsage marks errors that are answered with the usage text.
var errUsage = errors.New("usage")

// Main runs the command in args (without the program name) and returns the
// process exit code: 0 ok, 1 failure, 2 usage error.
func Main(ctx context.Context, args []string, env Env, st Streams) int {
	err := run(ctx, args, env, st)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(st.Err, usage)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(st.Err, "origin: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(st.Err, "origin: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, env Env, st Streams) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "bootstrap":
		return bootstrap(ctx, rest, env, st)
	case "migrate":
		return migrateCmd(ctx, rest, env, st)
	case "serve":
		return serve(ctx, rest, env, st)
	case "purge":
		return purge(ctx, rest, env, st)
	case "keys":
		return keysCmd(ctx, rest, env, st)
	case "help", "-h", "-help", "--help":
		return flag.ErrHelp
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

func newFlags(name string, st Streams) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// requireEnv reads every key and names all missing ones in one error.
func requireEnv(env Env, keys ...string) (map[string]string, error) {
	vals := make(map[string]string, len(keys))
	var missing []string
	for _, k := range keys {
		v := strings.TrimSpace(env(k))
		if v == "" {
			missing = append(missing, k)
		}
		vals[k] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing environment variable %s", strings.Join(missing, ", "))
	}
	return vals, nil
}
