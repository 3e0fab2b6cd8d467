// Package api is the origin's HTTP surface: routes, the middleware every
// request passes (request id, body cap, privacy-safe access log), and the
// handlers.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/origin/internal/ballots"
	"github.com/picket-edge/picket/origin/internal/keys"
)

// MaxBodyBytes caps every request body. The API takes small JSON documents
// (WebAuthn responses, posts, an encrypted membership blob); 64 KiB holds
// the largest of them with room to spare and keeps a slow or hostile client
// from making the origin buffer much. See RATIONALE.md, "Why a 64 KiB body
// cap?".
const MaxBodyBytes = 64 << 10

// HealthChecker reports per database whether it answers.
type HealthChecker interface {
	Health(ctx context.Context) map[string]error
}

// Config is what the server needs. The zero Logger discards.
type Config struct {
	Databases HealthChecker
	// Names fixes the order of databases in /health.
	Names  []string
	Logger *slog.Logger
	// HealthTimeout bounds the database pings of /health; 2s if zero.
	HealthTimeout time.Duration

	// App is the account, union and post API. Without it those routes
	// answer 501, as in the walking skeleton.
	App *AppConfig
}

// AppConfig is what the account, union and post routes need.
type AppConfig struct {
	Content    *pgxpool.Pool
	Membership *pgxpool.Pool
	Keys       keys.Manager
	WebAuthn   WebAuthnConfig
	// Ballot is the ballot database; without it the /ballots routes
	// answer 501.
	Ballot *pgxpool.Pool
	// BallotKeys makes each unlinkable ballot's RSA key; nil means
	// 3072-bit keys. Note: tests only, to spare seconds of key generation.
	BallotKeys ballots.KeyGenerator
	// Now is the clock (time.Now if nil); tests move it.
	Now func() time.Time
	// SessionTTL is how long a session lives; 30 days if zero.
	SessionTTL time.Duration
}

// WebAuthnConfig names the relying party.
type WebAuthnConfig struct {
	RPID        string   // the site's registrable domain, e.g. picket.example
	DisplayName string   // shown by the authenticator; "picket" if empty
	Origins     []string // origins allowed in clientDataJSON
}

// Server is the origin's http.Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 2 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	s.handler = s.withRequestID(s.withAccessLog(s.withBodyCap(http.HandlerFunc(s.dispatch))))
	return s, nil
}

func (s *Server) routes() error {
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /privacy", s.privacy)

	// the route skeleton the app calls; each lands with its own issue
	var skeleton []string
	if s.cfg.App == nil || s.cfg.App.Ballot == nil {
		skeleton = append(skeleton, "/ballots/", "/ballots")
	}
	if s.cfg.App == nil {
		skeleton = append(skeleton, "/auth", "/auth/", "/unions/", "/unions", "/me", "/me/")
	}
	for _, p := range skeleton {
		s.mux.HandleFunc(p, s.notImplemented)
	}
	if s.cfg.App == nil {
		return nil
	}
	app, err := newApp(s, *s.cfg.App)
	if err != nil {
		return err
	}
	app.routes(s.mux)
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// dispatch routes through the mux, but answers the mux's own 404 and 405
// with picket's JSON error shape instead of its plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	// the mux would redirect an unclean path ("//x", "/a/../b"); the app
	// never sends one, so it is refused rather than followed
	if !isCleanPath(r.URL.Path) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such route", RequestID(r.Context()))
		return
	}

	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}

	// run the mux's fallback on a scratch writer to learn its status and Allow
	var cw captureWriter
	cw.header = make(http.Header)
	h.ServeHTTP(&cw, r)

	id := RequestID(r.Context())
	switch cw.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", cw.header.Get("Allow"))
		apierror.Write(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"method not allowed on this route", id)
	default:
		apierror.Write(w, http.StatusNotFound, "not_found", "no such route", id)
	}
}

func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c == p
}

// captureWriter swallows what the mux's fallback handlers write.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}

func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request) {
	// bad input is refused before "not implemented", so the app learns
	// about its own mistakes today
	if !s.readOptionalJSON(w, r, nil) {
		return
	}
	apierror.Write(w, http.StatusNotImplemented, "not_implemented",
		"this route is not implemented yet", RequestID(r.Context()))
}
