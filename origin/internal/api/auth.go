package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/logfield"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/events"
)

func (a *app) authRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /auth/webauthn/register/begin", a.registerBegin)
	mux.HandleFunc("POST /auth/webauthn/register/finish", a.registerFinish)
	mux.HandleFunc("POST /auth/webauthn/verify/begin", a.verifyBegin)
	mux.HandleFunc("POST /auth/webauthn/verify/finish", a.verifyFinish)
	// the bare paths take the step as ?step=begin|finish, for clients and
	// edge rules that know only the two ceremony paths
	mux.HandleFunc("POST /auth/webauthn/register", a.byStep(a.registerBegin, a.registerFinish))
	mux.HandleFunc("POST /auth/webauthn/verify", a.byStep(a.verifyBegin, a.verifyFinish))
	mux.HandleFunc("POST /auth/logout", a.authed(a.logout))
}

func (a *app) byStep(begin, finish http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("step") {
		case "begin":
			begin(w, r)
		case "finish":
			finish(w, r)
		default:
			apierror.Write(w, http.StatusBadRequest, "bad_step",
				"query parameter step must be begin or finish", RequestID(r.Context()))
		}
	}
}

// beginResponse carries the options for navigator.credentials.create/get
// and the id of the server-side ceremony to quote in the finish step.
type beginResponse struct {
	CeremonyID string `json:"ceremony_id"`
	Options    any    `json:"options"`
}

type finishRequest struct {
	CeremonyID string          `json:"ceremony_id"`
	Credential json.RawMessage `json:"credential"`
}

// sessionResponse is the answer of a successful sign-up or login. The
// token is shown once; the server keeps only its hash.
type sessionResponse struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	Pseudonym string `json:"pseudonym"`
}

func (a *app) registerBegin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Pseudonym string `json:"pseudonym"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	pseudonym, ok := cleanPseudonym(req.Pseudonym)
	if !ok {
		apierror.Write(w, http.StatusBadRequest, "bad_pseudonym",
			"pseudonym must be 1 to 64 printable characters", RequestID(r.Context()))
		return
	}

	_, handle := accounts.NewToken()
	user := &accounts.Account{UserHandle: handle, Pseudonym: pseudonym}
	creation, sd, err := a.wa.BeginRegistration(user)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.putCeremony(w, r, accounts.Ceremony{
		Kind: "register", Pseudonym: pseudonym, UserHandle: handle, Session: *sd,
	}, creation)
}

func (a *app) putCeremony(w http.ResponseWriter, r *http.Request, c accounts.Ceremony, options any) {
	id, err := a.accounts.PutCeremony(r.Context(), c, a.now().Add(ceremonyTTL))
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, beginResponse{CeremonyID: id, Options: options})
}

// takeCeremony reads a finish request and consumes its ceremony; on
// failure it has answered.
func (a *app) takeCeremony(
	w http.ResponseWriter, r *http.Request, kind string,
) (accounts.Ceremony, []byte, bool) {
	var req finishRequest
	if !a.s.readJSON(w, r, &req) {
		return accounts.Ceremony{}, nil, false
	}
	if req.CeremonyID == "" || len(req.Credential) == 0 {
		apierror.Write(w, http.StatusBadRequest, "malformed_json",
			"ceremony_id and credential are required", RequestID(r.Context()))
		return accounts.Ceremony{}, nil, false
	}
	c, err := a.accounts.TakeCeremony(r.Context(), req.CeremonyID, kind, a.now())
	if errors.Is(err, accounts.ErrNoCeremony) {
		apierror.Write(w, http.StatusBadRequest, "ceremony_invalid",
			"unknown, already used or expired ceremony; begin again", RequestID(r.Context()))
		return c, nil, false
	}
	if err != nil {
		a.internalError(w, r, err)
		return c, nil, false
	}
	return c, req.Credential, true
}

func (a *app) registerFinish(w http.ResponseWriter, r *http.Request) {
	c, raw, ok := a.takeCeremony(w, r, "register")
	if !ok {
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusBadRequest, "credential_malformed", err)
		return
	}
	user := &accounts.Account{ID: accounts.NewID(), UserHandle: c.UserHandle, Pseudonym: c.Pseudonym}
	cred, err := a.wa.CreateCredential(user, c.Session, parsed)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusBadRequest, "credential_rejected", err)
		return
	}

	if err := a.accounts.CreateAccount(r.Context(), user, cred, a.now()); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.AccountCreated)
	a.startSession(w, r, user)
}

func (a *app) verifyBegin(w http.ResponseWriter, r *http.Request) {
	if !a.s.readOptionalJSON(w, r, &struct{}{}) {
		return
	}
	assertion, sd, err := a.wa.BeginDiscoverableLogin()
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.putCeremony(w, r, accounts.Ceremony{Kind: "verify", Session: *sd}, assertion)
}

func (a *app) verifyFinish(w http.ResponseWriter, r *http.Request) {
	c, raw, ok := a.takeCeremony(w, r, "verify")
	if !ok {
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusBadRequest, "credential_malformed", err)
		return
	}

	var owner *accounts.Account
	lookup := func(_, userHandle []byte) (webauthn.User, error) {
		acc, err := a.accounts.AccountByHandle(r.Context(), userHandle)
		owner = acc
		return acc, err
	}
	_, cred, err := a.wa.ValidatePasskeyLogin(lookup, c.Session, parsed)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusUnauthorized, "passkey_rejected", err)
		return
	}

	if cred.Authenticator.CloneWarning {
		a.record(r.Context(), events.CounterRegressed)
		a.s.log.LogAttrs(r.Context(), slog.LevelWarn, "passkey signature counter went backwards: possible clone",
			slog.String(logfield.RequestID, RequestID(r.Context())))
		apierror.Write(w, http.StatusUnauthorized, "passkey_counter_regressed",
			"this passkey's signature counter went backwards; it may have been cloned",
			RequestID(r.Context()))
		return
	}
	if err := a.accounts.UpdatePasskey(r.Context(), cred, storedCount(owner, cred.ID)); err != nil {
		if errors.Is(err, accounts.ErrConflict) {
			apierror.Write(w, http.StatusConflict, "passkey_busy",
				"this passkey was used at the same moment elsewhere; try again", RequestID(r.Context()))
			return
		}
		a.internalError(w, r, err)
		return
	}
	a.startSession(w, r, owner)
}

func storedCount(acc *accounts.Account, id []byte) uint32 {
	for _, c := range acc.Credentials {
		if string(c.ID) == string(id) {
			return c.Authenticator.SignCount
		}
	}
	return 0
}

func (a *app) startSession(w http.ResponseWriter, r *http.Request, acc *accounts.Account) {
	token, sess, err := a.accounts.NewSession(r.Context(), acc.ID, a.now(), a.cfg.SessionTTL)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.SessionCreated)
	writeJSON(w, http.StatusOK, sessionResponse{
		Token: token, ExpiresAt: sess.ExpiresAt.UTC().Format(timeFormat), Pseudonym: acc.Pseudonym,
	})
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

// webauthnRefused answers a failed ceremony with a stable code; the
// library's error type (not its details, which quote client input) goes
// to the log.
func (a *app) webauthnRefused(w http.ResponseWriter, r *http.Request, status int, code string, err error) {
	kind := "other"
	var perr *protocol.Error
	if errors.As(err, &perr) {
		kind = perr.Type
	}
	a.s.log.LogAttrs(r.Context(), slog.LevelInfo, "webauthn ceremony refused",
		slog.String(logfield.RequestID, RequestID(r.Context())),
		slog.String(logfield.Reason, kind))
	apierror.Write(w, status, code, "the passkey response was refused", RequestID(r.Context()))
}

func (a *app) logout(w http.ResponseWriter, r *http.Request, s session) {
	if err := a.accounts.DeleteSession(r.Context(), s.accountID, s.sessionID); err != nil &&
		!errors.Is(err, accounts.ErrNotFound) {
		a.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// cleanPseudonym trims and checks a pseudonym: 1 to 64 characters, valid
// UTF-8, no control or format characters, no U+FFFD (which is what the JSON
// decoder makes of invalid UTF-8 in the request).
func cleanPseudonym(p string) (string, bool) {
	p = strings.TrimSpace(p)
	n := utf8.RuneCountInString(p)
	if !utf8.ValidString(p) || n < 1 || n > 64 || len(p) > 256 {
		return "", false
	}
	for _, c := range p {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError {
			return "", false
		}
	}
	return p, true
}
