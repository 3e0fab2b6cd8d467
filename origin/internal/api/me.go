package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/events"
	"github.com/picket-edge/picket/origin/internal/unions"
)

func (a *app) meRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /me", a.authed(a.getMe))
	mux.HandleFunc("PATCH /me", a.authed(a.patchMe))
	mux.HandleFunc("DELETE /me", a.authed(a.deleteMe))
	mux.HandleFunc("GET /me/sessions", a.authed(a.listSessions))
	mux.HandleFunc("DELETE /me/sessions/{id}", a.authed(a.revokeSession))
	mux.HandleFunc("GET /me/passkeys", a.authed(a.listPasskeys))
	mux.HandleFunc("POST /me/passkeys/begin", a.authed(a.addPasskeyBegin))
	mux.HandleFunc("POST /me/passkeys/finish", a.authed(a.addPasskeyFinish))
	mux.HandleFunc("DELETE /me/passkeys/{id}", a.authed(a.removePasskey))
	mux.HandleFunc("GET /me/memberships", a.authed(a.getBlob))
	mux.HandleFunc("PUT /me/memberships", a.authed(a.putBlob))
}

type meResponse struct {
	Pseudonym string `json:"pseudonym"`
}

func (a *app) getMe(w http.ResponseWriter, r *http.Request, s session) {
	acc, err := a.accounts.AccountByID(r.Context(), s.accountID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meResponse{Pseudonym: acc.Pseudonym})
}

func (a *app) patchMe(w http.ResponseWriter, r *http.Request, s session) {
	var req meResponse
	if !a.s.readJSON(w, r, &req) {
		return
	}
	p, ok := cleanPseudonym(req.Pseudonym)
	if !ok {
		apierror.Write(w, http.StatusBadRequest, "bad_pseudonym",
			"pseudonym must be 1 to 64 printable characters", RequestID(r.Context()))
		return
	}
	if err := a.accounts.SetPseudonym(r.Context(), s.accountID, p); err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meResponse{Pseudonym: p})
}

// deleteMe removes the account, its passkeys and sessions. Memberships
// are keyed hashes the server cannot find without the union ids, so the
// app leaves its unions first (it holds the list).
func (a *app) deleteMe(w http.ResponseWriter, r *http.Request, s session) {
	if err := a.accounts.DeleteAccount(r.Context(), s.accountID); err != nil {
		a.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) listSessions(w http.ResponseWriter, r *http.Request, s session) {
	list, err := a.accounts.ListSessions(r.Context(), s.accountID, s.sessionID, a.now())
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": list})
}

func (a *app) revokeSession(w http.ResponseWriter, r *http.Request, s session) {
	err := a.accounts.DeleteSession(r.Context(), s.accountID, r.PathValue("id"))
	if errors.Is(err, accounts.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such session", RequestID(r.Context()))
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) listPasskeys(w http.ResponseWriter, r *http.Request, s session) {
	list, err := a.accounts.ListPasskeys(r.Context(), s.accountID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": list})
}

func (a *app) addPasskeyBegin(w http.ResponseWriter, r *http.Request, s session) {
	if !a.s.readOptionalJSON(w, r, &struct{}{}) {
		return
	}
	acc, err := a.accounts.AccountByID(r.Context(), s.accountID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	// the authenticator must not make a second credential for the same
	// account on a device that already holds one
	exclude := make([]protocol.CredentialDescriptor, len(acc.Credentials))
	for i, c := range acc.Credentials {
		exclude[i] = c.Descriptor()
	}
	creation, sd, err := a.wa.BeginRegistration(acc, webauthn.WithExclusions(exclude))
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.putCeremony(w, r, accounts.Ceremony{Kind: "add_passkey", AccountID: acc.ID, Session: *sd}, creation)
}

func (a *app) addPasskeyFinish(w http.ResponseWriter, r *http.Request, s session) {
	c, raw, ok := a.takeCeremony(w, r, "add_passkey")
	if !ok {
		return
	}
	if c.AccountID != s.accountID {
		apierror.Write(w, http.StatusBadRequest, "ceremony_invalid",
			"unknown, already used or expired ceremony; begin again", RequestID(r.Context()))
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusBadRequest, "credential_malformed", err)
		return
	}
	acc, err := a.accounts.AccountByID(r.Context(), s.accountID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	cred, err := a.wa.CreateCredential(acc, c.Session, parsed)
	if err != nil {
		a.webauthnRefused(w, r, http.StatusBadRequest, "credential_rejected", err)
		return
	}
	if err := a.accounts.AddPasskey(r.Context(), acc.ID, cred, a.now()); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.PasskeyAdded)
	a.listPasskeys(w, r, s)
}

func (a *app) removePasskey(w http.ResponseWriter, r *http.Request, s session) {
	id, err := accounts.DecodeID(r.PathValue("id"))
	if err != nil {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such passkey", RequestID(r.Context()))
		return
	}
	err = a.accounts.DeletePasskey(r.Context(), s.accountID, id)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		apierror.Write(w, http.StatusNotFound, "not_found", "no such passkey", RequestID(r.Context()))
	case errors.Is(err, accounts.ErrLastPasskey):
		apierror.Write(w, http.StatusConflict, "last_passkey",
			"add another passkey before removing the last one", RequestID(r.Context()))
	case err != nil:
		a.internalError(w, r, err)
	default:
		a.record(r.Context(), events.PasskeyRemoved)
		w.WriteHeader(http.StatusNoContent)
	}
}

// getBlob returns the app's encrypted list of the member's unions as
// application/octet-stream, exactly as stored.
func (a *app) getBlob(w http.ResponseWriter, r *http.Request, s session) {
	b, err := a.unions.Blob(r.Context(), s.accountID)
	if errors.Is(err, unions.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no membership list stored",
			RequestID(r.Context()))
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (a *app) putBlob(w http.ResponseWriter, r *http.Request, s session) {
	b, err := io.ReadAll(io.LimitReader(r.Body, unions.MaxBlobBytes+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || len(b) > unions.MaxBlobBytes {
		writeTooLarge(w, r)
		return
	}
	if err != nil || len(b) == 0 {
		apierror.Write(w, http.StatusBadRequest, "bad_body", "an encrypted blob is required",
			RequestID(r.Context()))
		return
	}
	if err := a.unions.PutBlob(r.Context(), s.accountID, b); err != nil {
		a.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
