package onion

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	onionsvc "github.com/picket-edge/picket/onion"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "onion-address",
		Usage: "[--config <path> [--adapter <name>]] [--data-dir <path>]",
		Short: "Prints the address of picket's onion service",
		Long: `
Prints the onion address of the key that the picket_onion app uses. The
address is read from the key on disk: tor need not run, and nothing is
created or changed. The data directory comes from --data-dir, else from the
picket_onion app in --config, else the default under Caddy's data directory.
A missing or unreadable key is an error (exit status 1).`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().StringP("config", "c", "", "Configuration file")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.Flags().String("data-dir", "", "tor data directory of the onion service")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdOnionAddress)
		},
	})
}

func cmdOnionAddress(fl caddycmd.Flags) (int, error) {
	dir := fl.String("data-dir")
	if dir == "" && fl.String("config") != "" {
		var err error
		if dir, err = dataDirFromConfig(fl.String("config"), fl.String("adapter")); err != nil {
			return exitFailure, err
		}
	}
	if dir == "" {
		dir = DefaultDataDir()
	}
	addr, err := onionAddress(dir)
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintln(os.Stdout, addr)
	return 0, nil
}

// onionAddress reads the address of the key under a tor data directory.
func onionAddress(dataDir string) (string, error) {
	addr, err := onionsvc.Address(filepath.Join(dataDir, "hs"))
	if err != nil {
		return "", fmt.Errorf("reading onion address from %s: %w", dataDir, err)
	}
	return addr, nil
}

// exitFailure is the exit status for a failure.
const exitFailure = 1

// dataDirFromConfig loads a config file and returns the picket_onion app's
// data directory, or "" for the default.
func dataDirFromConfig(path, adapter string) (string, error) {
	raw, _, _, err := caddycmd.LoadConfig(path, adapter)
	if err != nil {
		return "", err
	}
	var cfg struct {
		Apps struct {
			Onion *App `json:"picket_onion"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("decoding config: %w", err)
	}
	if cfg.Apps.Onion == nil {
		return "", fmt.Errorf("%s configures no picket_onion app", path)
	}
	return cfg.Apps.Onion.DataDir, nil
}
