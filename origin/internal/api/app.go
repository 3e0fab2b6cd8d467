package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/logfield"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/ballots"
	"github.com/picket-edge/picket/origin/internal/events"
	"github.com/picket-edge/picket/origin/internal/unions"
)

// ceremonyTTL is how long a WebAuthn challenge lives between begin and
// finish: long enough for a person, short enough to be useless later.
const ceremonyTTL = 5 * time.Minute

// defaultSessionTTL is the lifetime of a session token.
const defaultSessionTTL = 30 * 24 * time.Hour

// app holds the account, union and post routes.
type app struct {
	s        *Server
	cfg      AppConfig
	wa       *webauthn.WebAuthn
	accounts *accounts.Store
	unions   *unions.Store
	events   *events.Log
	ballots  *ballots.Store // nil without a ballot database
}

func newApp(s *Server, cfg AppConfig) (*app, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = defaultSessionTTL
	}
	if cfg.WebAuthn.DisplayName == "" {
		cfg.WebAuthn.DisplayName = "picket"
	}
	required := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.WebAuthn.RPID,
		RPDisplayName: cfg.WebAuthn.DisplayName,
		RPOrigins:     cfg.WebAuthn.Origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &required,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, err
	}
	a := &app{
		s: s, cfg: cfg, wa: wa,
		accounts: accounts.New(cfg.Content),
		unions:   unions.New(cfg.Content, cfg.Membership, cfg.Keys),
		events:   events.New(cfg.Content, cfg.Now),
	}
	if cfg.Ballot != nil {
		var opts []ballots.Option
		if cfg.BallotKeys != nil {
			opts = append(opts, ballots.WithKeyGenerator(cfg.BallotKeys))
		}
		a.ballots = ballots.New(cfg.Ballot, cfg.Keys, opts...)
	}
	return a, nil
}

func (a *app) routes(mux *http.ServeMux) {
	a.authRoutes(mux)
	a.meRoutes(mux)
	a.unionRoutes(mux)
	if a.ballots != nil {
		a.ballotRoutes(mux)
	}
}

func (a *app) now() time.Time { return a.cfg.Now() }

// record stores an event; a failure is logged, never shown to the client.
func (a *app) record(ctx context.Context, kind string) {
	if err := a.events.Record(ctx, kind); err != nil {
		a.s.log.LogAttrs(ctx, slog.LevelError, "event not recorded",
			slog.String(logfield.RequestID, RequestID(ctx)), slog.String(logfield.Kind, kind))
	}
}

// internalError answers 500 and logs the cause with the request id only.
// A database error is logged by its SQLSTATE alone: PostgreSQL messages
// can quote the values of a statement.
func (a *app) internalError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	cause := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		cause = "database error, SQLSTATE " + pgErr.Code
	}
	a.s.log.LogAttrs(ctx, slog.LevelError, "internal error",
		slog.String(logfield.RequestID, RequestID(ctx)), slog.String(logfield.Error, cause))
	apierror.Write(w, http.StatusInternalServerError, "internal", "internal error", RequestID(ctx))
}

type sessionKey struct{}

type session struct {
	accountID string
	sessionID string
}

// authed wraps h so that it runs only with a live session from an
// "Authorization: Bearer <token>" header.
func (a *app) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			unauthenticated(w, r)
			return
		}
		acc, sid, err := a.accounts.SessionAccount(r.Context(), token, a.now())
		if errors.Is(err, accounts.ErrNoSession) {
			unauthenticated(w, r)
			return
		}
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		h(w, r, session{accountID: acc, sessionID: sid})
	}
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 256 {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func unauthenticated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="picket"`)
	apierror.Write(w, http.StatusUnauthorized, "unauthenticated",
		"a valid session token is required", RequestID(r.Context()))
}
