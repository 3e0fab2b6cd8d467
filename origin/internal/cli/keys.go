package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/picket-edge/picket/internal/logfield"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/api"
	"github.com/picket-edge/picket/origin/internal/ballots"
	"github.com/picket-edge/picket/origin/internal/database"
	"github.com/picket-edge/picket/origin/internal/events"
	"github.com/picket-edge/picket/origin/internal/keys"
)

// Environment variables of the WebAuthn relying party.
const (
	RPIDEnv    = "PICKET_WEBAUTHN_RP_ID"
	OriginsEnv = "PICKET_WEBAUTHN_ORIGINS"
)

// webAuthnFromEnv reads the relying party; the defaults suit a local run
// at https://localhost.
func webAuthnFromEnv(env Env) api.WebAuthnConfig {
	cfg := api.WebAuthnConfig{RPID: env(RPIDEnv)}
	if cfg.RPID == "" {
		cfg.RPID = "localhost"
	}
	for _, o := range strings.Split(env(OriginsEnv), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.Origins = append(cfg.Origins, o)
		}
	}
	if len(cfg.Origins) == 0 {
		cfg.Origins = []string{"https://" + cfg.RPID}
	}
	return cfg
}

func openKeyring(env Env, logger *slog.Logger) (*keys.Keyring, error) {
	dir := env(keys.DirEnv)
	if dir == "" {
		dir = keys.DefaultDir
	}
	master, generated, err := keys.MasterKey(env, dir)
	if err != nil {
		return nil, err
	}
	if generated {
		logger.Warn("generated a master key file next to the keyring; in production set " +
			keys.MasterKeyEnv + " or " + keys.MasterKeyFileEnv + " to a key kept elsewhere")
	}
	km, err := keys.OpenKeyring(dir, master)
	if err != nil {
		return nil, err
	}
	return km, nil
}

// purgeInterval is how often serve deletes expired events, ceremonies and
// sessions; events are thus gone at most this long after 24 hours.
const purgeInterval = 10 * time.Minute

func purgeLoop(ctx context.Context, pools database.Pools, logger *slog.Logger) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	purgeOnce(ctx, pools, logger)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			purgeOnce(ctx, pools, logger)
		}
	}
}

func purgeOnce(ctx context.Context, pools database.Pools, logger *slog.Logger) (int64, error) {
	n, err := events.New(pools["content"], time.Now).Purge(ctx)
	if err != nil {
		logger.Error("purge failed", slog.String(logfield.Target, "events"))
		return 0, err
	}
	store := accounts.New(pools["content"])
	if _, err := store.PurgeCeremonies(ctx, time.Now()); err != nil {
		logger.Error("purge failed", slog.String(logfield.Target, "ceremonies"))
	}
	if _, err := store.PurgeSessions(ctx, time.Now()); err != nil {
		logger.Error("purge failed", slog.String(logfield.Target, "sessions"))
	}
	logger.Info("purged", slog.String(logfield.Target, "events"), slog.Int64(logfield.Count, n))
	return n, nil
}

// purge is the one-off form of the timer in serve.
func purge(ctx context.Context, args []string, env Env, st Streams) error {
	if err := parseFlags(newFlags("purge", st), args); err != nil {
		return err
	}
	urls, err := urlsFromEnv(env, database.Spec.AppEnv)
	if err != nil {
		return err
	}
	pools, err := database.Open(ctx, urls)
	if err != nil {
		return err
	}
	defer pools.Close()
	logger := slog.New(slog.NewJSONHandler(st.Err, nil))
	n, err := purgeOnce(ctx, pools, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(st.Out, "purged %d events older than %v\n", n, events.Retention)
	return nil
}

// keysCmd: origin keys info|rotate NAME, origin keys min-version NAME N [force].
func keysCmd(ctx context.Context, args []string, env Env, st Streams) error {
	if len(args) < 2 {
		return fmt.Errorf("%w: keys: want info|rotate NAME or min-version NAME N", errUsage)
	}
	km, err := openKeyring(env, slog.New(slog.NewTextHandler(st.Err, nil)))
	if err != nil {
		return err
	}
	op, name := args[0], args[1]
	switch {
	case op == "rotate" && len(args) == 2:
		err = km.Rotate(ctx, name)
	case op == "min-version" && (len(args) == 3 || len(args) == 4 && args[3] == "force"):
		v, perr := strconv.Atoi(args[2])
		if perr != nil {
			return fmt.Errorf("%w: keys min-version: %q is not a number", errUsage, args[2])
		}
		if name == ballots.MemberKeyName && len(args) == 3 {
			return fmt.Errorf("%w: keys min-version %s: refused: the once-per-member checks of "+
				"open ballots find earlier tokens and votes only under the versions they were "+
				"made with, so retiring one lets those members take a token or vote again; "+
				"when every ballot is closed, repeat with 'force'", errUsage, name)
		}
		err = km.SetMinDecryptionVersion(ctx, name, v)
	case op == "info" && len(args) == 2:
	default:
		return fmt.Errorf("%w: keys: want info|rotate NAME or min-version NAME N", errUsage)
	}
	if err != nil {
		return err
	}
	info, err := km.Info(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(st.Out, "key %s: latest version %d, minimum decryption version %d\n",
		name, info.Latest, info.MinDecryptionVersion)
	return nil
}
