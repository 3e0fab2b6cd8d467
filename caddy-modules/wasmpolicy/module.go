package wasmpolicy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.uber.org/zap"
)

// compilationCache holds machine code for every guest compiled in this
// process. It outlives config reloads, so a reload that names an unchanged
// file compiles nothing (see RATIONALE.md, "Why one compilation cache for the
// process?"). wazero counts references per module and frees the code when the
// last runtime using it closes.
var compilationCache = wazero.NewCompilationCache()

// modules shares a loaded guest (runtime, compiled module, instance pool)
// between the handlers of consecutive configs that load the same bytes with
// the same settings.
var modules = caddy.NewUsagePool()

// moduleSpec is everything that decides what a loaded guest is.
type moduleSpec struct {
	wasm        []byte
	config      []byte
	memoryPages uint32
	poolSize    int
	idleTimeout time.Duration
	initTimeout time.Duration
	logger      *zap.Logger
}

// key identifies a spec in modules. The guest config enters as a hash so
// that it never sits in a map key or a log line.
func (s *moduleSpec) key() string {
	wsum := sha256.Sum256(s.wasm)
	csum := sha256.Sum256(s.config)
	return fmt.Sprintf("%x/%x/%d/%d/%d/%d", wsum, csum, s.memoryPages,
		s.poolSize, s.idleTimeout, s.initTimeout)
}

// module is one loaded guest: a wazero runtime of its own (the memory limit
// is a runtime setting), the compiled guest and its pool of instances.
type module struct {
	spec     moduleSpec
	sum      string
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	pool     *pool
	stop     chan struct{}
	done     chan struct{}
}

func loadModule(s moduleSpec) (*module, error) {
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(compilationCache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(s.memoryPages)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	m := &module{spec: s, runtime: rt, stop: make(chan struct{}), done: make(chan struct{})}
	sum := sha256.Sum256(s.wasm)
	m.sum = hex.EncodeToString(sum[:])

	if err := m.compile(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	m.pool = newPool(s.poolSize, m.instantiate)

	// one instance up front: a guest that cannot start fails the config
	// load instead of the first request
	in, err := m.pool.get(ctx)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	m.pool.put(in, true, time.Now())

	go m.janitor()
	return m, nil
}

func (m *module) compile(ctx context.Context) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.runtime); err != nil {
		return fmt.Errorf("instantiating wasi: %w", err)
	}
	if err := m.instantiateHost(ctx); err != nil {
		return fmt.Errorf("instantiating host module: %w", err)
	}
	c, err := m.runtime.CompileModule(ctx, m.spec.wasm)
	if err != nil {
		return fmt.Errorf("compiling guest: %w", err)
	}
	if err := checkExports(c); err != nil {
		_ = c.Close(ctx)
		return err
	}
	m.compiled = c
	return nil
}

// checkExports verifies the handler ABI's exports and their signatures.
func checkExports(c wazero.CompiledModule) error {
	fns := c.ExportedFunctions()
	req, ok := fns["handle_request"]
	if !ok || len(req.ParamTypes()) != 0 || !sameTypes(req.ResultTypes(), api.ValueTypeI64) {
		return errors.New("guest must export handle_request: () -> i64")
	}
	resp, ok := fns["handle_response"]
	if !ok || !sameTypes(resp.ParamTypes(), api.ValueTypeI32, api.ValueTypeI32) ||
		len(resp.ResultTypes()) != 0 {
		return errors.New("guest must export handle_response: (i32, i32) -> ()")
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		return errors.New("guest must export its memory as \"memory\"")
	}
	return nil
}

func sameTypes(got []api.ValueType, want ...api.ValueType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// instantiate creates one guest instance and runs its start function
// (_initialize for reactors such as Go's c-shared build, _start for TinyGo
// commands) under the init deadline.
func (m *module) instantiate() (*instance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.spec.initTimeout)
	defer cancel()
	ctx = withCall(ctx, &call{phase: phaseInit, logger: m.spec.logger, ceiling: zap.DebugLevel})

	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize", "_start").
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	mod, err := m.runtime.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		if mod != nil {
			_ = mod.Close(context.Background())
		}
		return nil, fmt.Errorf("instantiating guest: %w", err)
	}
	if mod.IsClosed() {
		return nil, errors.New("guest exited while starting (build Go guests with -buildmode=c-shared)")
	}
	return &instance{
		mod:            mod,
		handleRequest:  mod.ExportedFunction("handle_request"),
		handleResponse: mod.ExportedFunction("handle_response"),
	}, nil
}

// janitor closes instances idle for longer than the idle timeout.
func (m *module) janitor() {
	defer close(m.done)
	every := max(m.spec.idleTimeout/2, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.pool.reclaim(now.Add(-m.spec.idleTimeout))
		}
	}
}

// Destruct implements caddy.Destructor: the last config using this guest is
// gone.
func (m *module) Destruct() error {
	close(m.stop)
	<-m.done
	m.pool.close()
	ctx := context.Background()
	_ = m.compiled.Close(ctx)
	return m.runtime.Close(ctx)
}

// Interface guards
var _ caddy.Destructor = (*module)(nil)
