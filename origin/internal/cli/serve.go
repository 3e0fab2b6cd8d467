package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/picket-edge/picket/internal/gateway"
	"github.com/picket-edge/picket/internal/logfield"
	"github.com/picket-edge/picket/origin/internal/api"
	"github.com/picket-edge/picket/origin/internal/database"
)

// ListenEnv names the listen address variable.
const ListenEnv = "PICKET_ORIGIN_LISTEN"

// DefaultListen is loopback only: the edge is the one client.
const DefaultListen = "127.0.0.1:9000"

// shutdownGrace bounds how long in-flight requests may finish on SIGTERM.
const shutdownGrace = 10 * time.Second

func serve(ctx context.Context, args []string, env Env, st Streams) error {
	if err := parseFlags(newFlags("serve", st), args); err != nil {
		return err
	}
	urls, err := urlsFromEnv(env, database.Spec.AppEnv)
	if err != nil {
		return err
	}
	addr := env(ListenEnv)
	if addr == "" {
		addr = DefaultListen
	}

	logger := slog.New(slog.NewJSONHandler(st.Err, nil))
	km, err := openKeyring(env, logger)
	if err != nil {
		return err
	}
	pools, err := database.Open(ctx, urls)
	if err != nil {
		return err
	}
	defer pools.Close()

	handler, err := api.New(api.Config{
		Databases: pools,
		Names:     database.Names(),
		Logger:    logger,
		App: &api.AppConfig{
			Content:    pools["content"],
			Membership: pools["membership"],
			Ballot:     pools["ballot"],
			Keys:       km,
			WebAuthn:   webAuthnFromEnv(env),
		},
	})
	if err != nil {
		return fmt.Errorf("configuring the API: %w", err)
	}
	front, err := fromGateway(handler, env, logger)
	if err != nil {
		return err
	}

	ln, err := listen(addr)
	if err != nil {
		return err
	}
	go purgeLoop(ctx, pools, logger)
	srv := newHTTPServer(front, logger)
	logger.Info("origin listening", slog.String(logfield.Listen, ln.Addr().String()))
	return runServer(ctx, srv, ln, logger)
}

// GatewayKeyEnv names the key the origin shares with the gateway to check
// the gateway's signed client header (see internal/gateway).
const GatewayKeyEnv = "PICKET_GATEWAY_KEY"

// fromGateway wraps h so that the gateway's client header is believed only
// when its signature checks out. Without a key the header is always removed
// and nothing about the client is known.
func fromGateway(h http.Handler, env Env, logger *slog.Logger) (http.Handler, error) {
	key := env(GatewayKeyEnv)
	if key == "" {
		logger.Warn("no gateway key: the gateway's client header is ignored",
			slog.String(logfield.Reason, GatewayKeyEnv+" unset"))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del(gateway.Header)
			h.ServeHTTP(w, r)
		}), nil
	}
	v, err := gateway.Verify(h, gateway.VerifyConfig{Key: []byte(key)})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errUsage, GatewayKeyEnv, err)
	}
	return v, nil
}

// listen opens a TCP address or, with the unix: prefix, a unix socket
// (a stale socket file from an earlier run is replaced).
func listen(addr string) (net.Listener, error) {
	path, isUnix := strings.CutPrefix(addr, "unix:")
	if !isUnix {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		return ln, nil
	}
	if path == "" {
		return nil, fmt.Errorf("%w: %s: unix: needs a socket path", errUsage, ListenEnv)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// net/http's own messages can quote a client address; keep only
		// the fact that one happened
		ErrorLog: log.New(quietWriter{logger}, "", 0),
	}
}

// quietWriter replaces each net/http error line with a fixed message.
type quietWriter struct{ log *slog.Logger }

func (q quietWriter) Write(p []byte) (int, error) {
	q.log.Warn("http server error (detail withheld: it may hold a client address)")
	return len(p), nil
}

var _ io.Writer = quietWriter{}

// runServer serves until ctx is done (SIGINT/SIGTERM in main), then lets
// in-flight requests finish.
func runServer(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	logger.Info("origin shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	logger.Info("origin stopped")
	return nil
}
