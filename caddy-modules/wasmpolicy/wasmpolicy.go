// Package wasmpolicy provides the picket_wasm handler, which runs an HTTP
// policy compiled to WebAssembly on every request. Guests speak the
// http-wasm handler ABI (http-wasm.io), so policies written for other
// http-wasm hosts run here too; picket's own SDK lives in wasm/guest.
//
// The host is built directly on wazero so that a hostile or broken guest
// cannot hurt the gateway: every guest call has a deadline, guest memory is
// capped, instances live in a bounded pool, and an instance that traps or
// times out is thrown away. See docs/wasm.md.
package wasmpolicy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/logfield"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultTimeout          = 50 * time.Millisecond
	DefaultMemoryLimitPages = 512 // 32 MiB; a Go guest needs about 8
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultInitTimeout      = 2 * time.Second
	DefaultMaxBodyBytes     = 1 << 20
)

// Handler runs a WebAssembly policy on each request.
type Handler struct {
	// Path of the guest's .wasm file.
	Path string `json:"path"`

	// SHA256 pins the file: hex SHA-256 of its bytes. A file that does not
	// match is not loaded (the config load fails).
	SHA256 string `json:"sha256,omitempty"`

	// Config is handed to the guest via get_config. It is never logged.
	Config string `json:"config,omitempty"`

	// Timeout bounds each guest call, and the wait for a free instance.
	// Default 50ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MemoryLimitPages caps each instance's memory in 64 KiB pages.
	// Default 512 (32 MiB).
	MemoryLimitPages uint32 `json:"memory_limit_pages,omitempty"`

	// PoolSize bounds the instances, busy and idle. Default 2×GOMAXPROCS.
	PoolSize int `json:"pool_size,omitempty"`

	// IdleTimeout closes instances unused for this long. Default 5m.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// InitTimeout bounds a guest's start function. Default 2s.
	InitTimeout caddy.Duration `json:"init_timeout,omitempty"`

	// FailOpen passes the request on when the guest fails, instead of
	// refusing it with 503 (fail closed, the default).
	FailOpen bool `json:"fail_open,omitempty"`

	// ResponsePhase calls the guest's handle_response after the next
	// handler. The instance stays busy for the whole round trip, so size
	// the pool for the concurrent requests. Default off.
	ResponsePhase bool `json:"response_phase,omitempty"`

	// GuestLogLevel is the loudest level a guest may log at: debug (the
	// default), info, warn or error. Louder guest lines are lowered to it.
	GuestLogLevel string `json:"guest_log_level,omitempty"`

	// MaxBodyBytes bounds the request body a guest may read or write.
	// Default 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	key     string
	mod     *module
	ceiling zapcore.Level
	logger  *zap.Logger
	now     func() time.Time
	breaker *breaker
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_wasm",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads (or reuses) the guest.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.logger == nil {
		h.logger = ctx.Logger()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.breaker = new(breaker)
	h.setDefaults()
	ceiling, err := zapcore.ParseLevel(h.GuestLogLevel)
	if err != nil || ceiling > zap.ErrorLevel {
		return fmt.Errorf("guest_log_level %q: want debug, info, warn or error", h.GuestLogLevel)
	}
	h.ceiling = ceiling

	wasm, err := os.ReadFile(h.Path)
	if err != nil {
		return fmt.Errorf("reading guest: %w", err)
	}
	sum := sha256.Sum256(wasm)
	if h.SHA256 != "" && !strings.EqualFold(h.SHA256, hex.EncodeToString(sum[:])) {
		return fmt.Errorf("guest %q does not match its sha256 pin: refusing to load", h.Path)
	}

	spec := moduleSpec{
		wasm:        wasm,
		config:      []byte(h.Config),
		memoryPages: h.MemoryLimitPages,
		poolSize:    h.PoolSize,
		idleTimeout: time.Duration(h.IdleTimeout),
		initTimeout: time.Duration(h.InitTimeout),
		logger:      h.logger,
	}
	h.key = spec.key()
	v, loaded, err := modules.LoadOrNew(h.key, func() (caddy.Destructor, error) {
		return loadModule(spec)
	})
	if err != nil {
		h.key = ""
		return fmt.Errorf("loading guest %q: %w", h.Path, err)
	}
	h.mod = v.(*module)
	h.logger.Info("wasm policy loaded",
		zap.String(logfield.SHA256, h.mod.sum),
		zap.Int(logfield.Size, len(wasm)),
		zap.Bool(logfield.Reused, loaded))
	return nil
}

func (h *Handler) setDefaults() {
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	if h.MemoryLimitPages == 0 {
		h.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if h.PoolSize <= 0 {
		h.PoolSize = 2 * runtime.GOMAXPROCS(0)
	}
	if h.IdleTimeout <= 0 {
		h.IdleTimeout = caddy.Duration(DefaultIdleTimeout)
	}
	if h.InitTimeout <= 0 {
		h.InitTimeout = caddy.Duration(DefaultInitTimeout)
	}
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.GuestLogLevel == "" {
		h.GuestLogLevel = "debug"
	}
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.Path == "" {
		return errors.New("path: the guest's .wasm file is required")
	}
	if h.SHA256 != "" {
		if b, err := hex.DecodeString(h.SHA256); err != nil || len(b) != sha256.Size {
			return errors.New("sha256: want 64 hex digits")
		}
	}
	if h.MemoryLimitPages > 65536 {
		return errors.New("memory_limit_pages: at most 65536 (4 GiB)")
	}
	return nil
}

// Cleanup releases this config's hold on the guest. A request still in
// flight keeps its instance; if the guest is closed under it, the call
// fails and the failure policy answers.
func (h *Handler) Cleanup() error {
	if h.key == "" {
		return nil
	}
	key := h.key
	h.key = ""
	_, err := modules.Delete(key)
	return err
}

// ServeHTTP runs the guest on r.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.breaker.allow(h.now()) {
		if logIt, suppressed := h.breaker.skipped(h.now()); logIt {
			h.logger.Warn("wasm policy backing off after repeated failures",
				zap.Int(logfield.Suppressed, suppressed))
		}
		return h.fail(w, r, next)
	}

	// only our deadline stops a guest: a client that goes away mid-call
	// must not cost an instance
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.Timeout))
	defer cancel()
	in, err := h.mod.pool.get(ctx)
	if err != nil {
		h.failed(failureReason(ctx, err), err)
		return h.fail(w, r, next)
	}

	c := newCall(r, h.logger, h.ceiling, h.MaxBodyBytes)
	c.w = w
	c.deadline, _ = ctx.Deadline()
	res, err := in.handleRequest.Call(withCall(ctx, c))
	if err != nil {
		h.discard(in)
		h.failed(failureReason(ctx, err), err)
		return h.fail(w, r, next)
	}
	h.breaker.success()
	goNext, reqCtx := uint32(res[0]) != 0, uint32(res[0]>>32)
	if !goNext || !h.ResponsePhase {
		h.mod.pool.put(in, true, h.now())
	}
	if !goNext {
		c.writeResponse(w)
		return nil
	}

	c.apply(w)
	if !h.ResponsePhase {
		return next.ServeHTTP(w, r)
	}
	return h.serveResponsePhase(w, r, next, in, c, reqCtx)
}

// serveResponsePhase calls next, then the guest's handle_response. The
// response has been sent by then: a failing guest cannot change it and
// only costs its instance.
func (h *Handler) serveResponsePhase(w http.ResponseWriter, r *http.Request,
	next caddyhttp.Handler, in *instance, c *call, reqCtx uint32,
) error {
	sw := &statusWriter{ResponseWriter: w}
	// a handler after us may panic (reverse_proxy aborts a response with
	// http.ErrAbortHandler when the client goes away): the instance is in
	// an unknown state then, so it is discarded, never leaked from the pool
	defer func() {
		if v := recover(); v != nil {
			h.discard(in)
			panic(v)
		}
	}()
	nextErr := next.ServeHTTP(sw, r)

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.Timeout))
	defer cancel()
	c.phase, c.upstream = phaseResponse, sw
	isError := uint64(0)
	if nextErr != nil {
		isError = 1
	}
	if _, err := in.handleResponse.Call(withCall(ctx, c), uint64(reqCtx), isError); err != nil {
		h.discard(in)
		h.failed(failureReason(ctx, err), err)
		return nextErr
	}
	h.mod.pool.put(in, true, h.now())
	return nextErr
}

// discard drops a failed instance and starts a replacement in the
// background, so that the next request does not pay for it.
func (h *Handler) discard(in *instance) {
	p := h.mod.pool
	p.put(in, false, h.now())
	go p.refill(h.now())
}

func failureReason(ctx context.Context, err error) string {
	var exit *sys.ExitError
	switch {
	case errors.Is(err, errPoolWait):
		return "pool_exhausted"
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded,
		ctx.Err() != nil:
		return "timeout"
	case strings.HasPrefix(err.Error(), "instantiating guest"):
		return "instantiate"
	}
	return "trap"
}

// failed logs a guest failure at a limited rate. The error text is
// wazero's or the host's, never guest memory; only its first line is kept.
func (h *Handler) failed(reason string, err error) {
	logIt, suppressed, consecutive := h.breaker.failure(h.now(), reason != "pool_exhausted")
	if !logIt {
		return
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	h.logger.Warn("wasm policy failed",
		zap.String(logfield.Reason, reason),
		zap.String(logfield.Error, msg),
		zap.Int(logfield.Count, consecutive),
		zap.Int(logfield.Suppressed, suppressed),
		zap.String(logfield.SHA256, h.mod.sum))
}

// fail answers a request the guest could not decide, by the failure
// policy. The body never says why: that is in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.FailOpen {
		return next.ServeHTTP(w, r)
	}
	var reqID string
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		reqID = repl.ReplaceAll("{http.request.uuid}", "")
	}
	w.Header().Set("Retry-After", "1")
	apierror.Write(w, http.StatusServiceUnavailable, "policy_unavailable",
		"the request could not be checked, try again later", reqID)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
