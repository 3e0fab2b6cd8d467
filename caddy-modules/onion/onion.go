// Package onion holds picket's Caddy modules for the Tor onion mirror:
//
//   - the picket_onion app, which runs tor for the onion service;
//   - the caddy.listeners.picket_onion listener wrapper, which reads tor's
//     circuit header on the onion socket;
//   - http.handlers.picket_onion_source, which marks requests from that
//     listener as source class onion;
//   - http.handlers.picket_read_only, the read-only method policy;
//   - http.handlers.picket_onion_location, the Onion-Location header on the
//     clearnet site;
//   - the "caddy onion-address" subcommand.
//
// See docs/onion.md.
package onion

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/logfield"
	onionsvc "github.com/picket-edge/picket/onion"
)

func init() {
	caddy.RegisterModule(App{})
}

// pool holds one running tor per data directory, so that a config reload
// that keeps the onion configuration keeps the process (see RATIONALE.md,
// "Why does a reload keep tor?").
var pool = caddy.NewUsagePool()

// current is the most recently started app, for the admin API, the
// subcommand and the Onion-Location handler.
var current atomic.Pointer[App]

// App is the picket_onion Caddy app: it runs and supervises tor for the
// union's onion service.
type App struct {
	onionsvc.Config

	// Address pins the expected onion address. When set, start-up fails
	// unless the key on disk belongs to it.
	Address string `json:"address,omitempty"`

	// RegenerateKey allows replacing a missing or corrupt key with a new
	// one, which changes the address. Remove it again after use.
	RegenerateKey bool `json:"regenerate_key,omitempty"`

	// BackoffMin and BackoffMax bound the pause before restarting a tor
	// that exited (defaults 1s and 1m).
	BackoffMin caddy.Duration `json:"backoff_min,omitempty"`
	BackoffMax caddy.Duration `json:"backoff_max,omitempty"`

	logger   *zap.Logger
	entry    *poolEntry
	key      string
	released *atomic.Bool
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "picket_onion",
		New: func() caddy.Module { return new(App) },
	}
}

// DefaultDataDir is tor's data directory when none is configured.
func DefaultDataDir() string { return filepath.Join(caddy.AppDataDir(), "picket", "tor") }

// DefaultSocket is the onion socket when none is configured.
func DefaultSocket() string { return filepath.Join(caddy.AppDataDir(), "picket", "onion.sock") }

// Provision sets defaults and takes a reference to the pooled tor for the
// data directory. Nothing is started or written here.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.DataDir == "" {
		a.DataDir = DefaultDataDir()
	}
	if a.Socket == "" {
		a.Socket = DefaultSocket()
	}
	var err error
	if a.DataDir, err = filepath.Abs(a.DataDir); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if a.Socket, err = filepath.Abs(a.Socket); err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	// before any app starts, so that no certificate is ever requested
	if err := checkNoOnionTLS(ctx, a.Socket); err != nil {
		return err
	}

	a.key = a.DataDir
	v, _, err := pool.LoadOrNew(a.key, func() (caddy.Destructor, error) {
		return new(poolEntry), nil
	})
	if err != nil {
		return err
	}
	a.entry = v.(*poolEntry)
	a.released = new(atomic.Bool)
	registerMetrics(ctx, a.entry)
	return nil
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if err := a.Config.Validate(); err != nil {
		return err
	}
	if a.Address != "" && a.RegenerateKey {
		return errors.New("address and regenerate_key exclude each other")
	}
	if a.BackoffMin < 0 || a.BackoffMax < 0 {
		return errors.New("backoff must not be negative")
	}
	return nil
}

// Start starts tor, or keeps the running one when its configuration is
// unchanged. A missing or corrupt key stops start-up here.
func (a *App) Start() error {
	fp, err := json.Marshal(a)
	if err != nil {
		return err
	}
	started, err := a.entry.ensure(string(fp), a.newSupervisor)
	if err != nil {
		return fmt.Errorf("starting onion service: %w", err)
	}
	current.Store(a)
	st := a.entry.supervisor().Status()
	if started {
		// the address is public by design; it is what members type
		a.logger.Info("onion service", zap.String(logfield.OnionAddress, st.Address),
			zap.Bool(logfield.Network, a.EnableNetwork))
	}
	return nil
}

// Stop leaves tor running for the next configuration; the pool stops it
// when no configuration uses it any more.
func (a *App) Stop() error {
	current.CompareAndSwap(a, nil)
	return nil
}

// Cleanup releases the pool reference. It is safe after a failed Provision.
func (a *App) Cleanup() error {
	if a.entry == nil || !a.released.CompareAndSwap(false, true) {
		return nil
	}
	_, err := pool.Delete(a.key)
	return err
}

func (a *App) newSupervisor() (*onionsvc.Supervisor, error) {
	minB, maxB := time.Duration(a.BackoffMin), time.Duration(a.BackoffMax)
	if minB == 0 {
		minB = time.Second
	}
	if maxB == 0 {
		maxB = time.Minute
	}
	return onionsvc.NewSupervisor(a.Config,
		onionsvc.WithLogger(a.logger),
		onionsvc.WithBackoff(minB, max(minB, maxB)),
		onionsvc.WithKeyOptions(onionsvc.KeyOptions{Regenerate: a.RegenerateKey, Pin: a.Address}))
}

// Status reports the onion service's state; ok is false when no
// picket_onion app is running.
func Status() (st onionsvc.Status, ok bool) {
	a := current.Load()
	if a == nil || a.entry == nil {
		return st, false
	}
	s := a.entry.supervisor()
	if s == nil {
		return st, false
	}
	return s.Status(), true
}

// Healthy reports whether the onion service is usable: tor runs and, when
// the network is enabled, has bootstrapped and published its descriptor.
func Healthy() bool {
	a := current.Load()
	st, ok := Status()
	if !ok || !st.Running {
		return false
	}
	return !a.EnableNetwork || (st.Bootstrap == 100 && st.DescriptorsUploaded > 0)
}

// poolEntry is the tor for one data directory, shared by every loaded
// configuration that names it.
type poolEntry struct {
	mu  sync.Mutex
	fp  string
	sup *onionsvc.Supervisor
}

// ensure starts a supervisor unless one runs with the same configuration
// fingerprint. A changed configuration stops the old tor first, because two
// tor processes cannot share a data directory. It reports whether it started
// a new one.
func (e *poolEntry) ensure(fp string, build func() (*onionsvc.Supervisor, error)) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sup != nil && e.fp == fp {
		return false, nil
	}
	if e.sup != nil {
		e.sup.Stop()
		e.sup, e.fp = nil, ""
	}
	s, err := build()
	if err != nil {
		return false, err
	}
	if err := s.Start(); err != nil {
		s.Stop()
		return false, err
	}
	e.sup, e.fp = s, fp
	return true, nil
}

func (e *poolEntry) supervisor() *onionsvc.Supervisor {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sup
}

// Destruct stops tor when the last configuration using it is gone.
func (e *poolEntry) Destruct() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sup != nil {
		e.sup.Stop()
		e.sup, e.fp = nil, ""
	}
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*poolEntry)(nil)
)
