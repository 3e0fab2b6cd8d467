package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/internal/webauthntest"
)

// call sends a JSON request (body nil for none) with an optional session
// token and decodes a JSON answer into out (if not nil).
func (h *harness) call(t testing.TB, method, path, token string, body, out any) response {
	t.Helper()
	hdr := map[string]string{"Accept": "application/json"}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		hdr["Content-Type"] = "application/json"
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	r := h.do(t, method, path, hdr, rd)
	if out != nil && r.status < 300 {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, r.body, err)
		}
	}
	return r
}

type begun struct {
	CeremonyID string          `json:"ceremony_id"`
	Options    json.RawMessage `json:"options"`
}

type sessionOut struct {
	Token     string `json:"token"`
	Pseudonym string `json:"pseudonym"`
}

func (h *harness) registerBegin(t testing.TB, pseudonym string) begun {
	t.Helper()
	var b begun
	r := h.call(t, "POST", "/auth/webauthn/register/begin", "", map[string]string{"pseudonym": pseudonym}, &b)
	if r.status != http.StatusOK {
		t.Fatalf("register begin: got %d, want 200 (%s)", r.status, r.body)
	}
	return b
}

func (h *harness) finish(t testing.TB, path, token string, b begun, cred json.RawMessage) response {
	t.Helper()
	return h.call(t, "POST", path, token, map[string]any{"ceremony_id": b.CeremonyID, "credential": cred}, nil)
}

// signUp registers a new account with auth and returns its session token.
func (h *harness) signUp(t testing.TB, auth *webauthntest.Authenticator, pseudonym string) string {
	t.Helper()
	b := h.registerBegin(t, pseudonym)
	cred, _, err := auth.Create(b.Options)
	if err != nil {
		t.Fatal(err)
	}
	r := h.finish(t, "/auth/webauthn/register/finish", "", b, cred)
	if r.status != http.StatusOK {
		t.Fatalf("register finish: got %d, want 200 (%s)", r.status, r.body)
	}
	var s sessionOut
	if err := json.Unmarshal(r.body, &s); err != nil || s.Token == "" {
		t.Fatalf("session: got %s, want a token", r.body)
	}
	return s.Token
}

// logIn runs a discoverable login; it returns the finish response.
func (h *harness) logIn(t testing.TB, auth *webauthntest.Authenticator, use *webauthntest.Credential) response {
	t.Helper()
	var b begun
	if r := h.call(t, "POST", "/auth/webauthn/verify/begin", "", nil, &b); r.status != http.StatusOK {
		t.Fatalf("verify begin: got %d, want 200 (%s)", r.status, r.body)
	}
	assertion, err := auth.Get(b.Options, use)
	if err != nil {
		t.Fatal(err)
	}
	return h.finish(t, "/auth/webauthn/verify/finish", "", b, assertion)
}

func (h *harness) count(t testing.TB, db, table string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.urls.Owner[db])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func newAuthenticator() *webauthntest.Authenticator {
	return &webauthntest.Authenticator{Origin: testOrigin, Counting: true}
}

func TestAccounts(t *testing.T) {
	h := newHarness(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	t.Run("sign up and log in", func(t *testing.T) { testSignUpLogIn(t, h) })
	t.Run("bare ceremony paths", func(t *testing.T) { testBarePaths(t, h) })
	t.Run("refused registrations", func(t *testing.T) { testRefusedRegistrations(t, h) })
	t.Run("refused logins", func(t *testing.T) { testRefusedLogins(t, h) })
	t.Run("synced passkey backup state change", func(t *testing.T) { testBackupStateChange(t, h) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, h) })
	t.Run("passkeys", func(t *testing.T) { testPasskeys(t, h) })
	t.Run("pseudonym and account deletion", func(t *testing.T) { testProfile(t, h) })
}

func testProfile(t *testing.T, h *harness) {
	auth := newAuthenticator()
	token := h.signUp(t, auth, "Before")

	tests := []struct {
		name       string
		pseudonym  string
		wantStatus int
	}{
		{name: "renamed", pseudonym: "  After  ", wantStatus: 200},
		{name: "empty", pseudonym: "   ", wantStatus: 400},
		{name: "control character", pseudonym: "a\u0007b", wantStatus: 400},
		{name: "invalid UTF-8", pseudonym: "\xff\xfe", wantStatus: 400},
		{name: "too long", pseudonym: strings.Repeat("x", 65), wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.call(t, "PATCH", "/me", token, map[string]string{"pseudonym": tt.pseudonym}, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
		})
	}
	var me struct {
		Pseudonym string `json:"pseudonym"`
	}
	if h.call(t, "GET", "/me", token, nil, &me); me.Pseudonym != "After" {
		t.Errorf("pseudonym: got %q, want After", me.Pseudonym)
	}

	accounts := h.count(t, "content", "picket.accounts")
	if r := h.call(t, "DELETE", "/me", token, nil, nil); r.status != 204 {
		t.Fatalf("delete: got %d, want 204", r.status)
	}
	if n := h.count(t, "content", "picket.accounts"); n != accounts-1 {
		t.Errorf("accounts after delete: got %d, want %d", n, accounts-1)
	}
	if r := h.call(t, "GET", "/me", token, nil, nil); r.status != 401 {
		t.Errorf("token of a deleted account: got %d, want 401", r.status)
	}
	if r := h.logIn(t, auth, nil); r.status != 401 {
		t.Errorf("login with a deleted account's passkey: got %d, want 401", r.status)
	}
}

func testSignUpLogIn(t *testing.T, h *harness) {
	auth := newAuthenticator()
	token := h.signUp(t, auth, "Rosa")

	var me struct {
		Pseudonym string `json:"pseudonym"`
	}
	if r := h.call(t, "GET", "/me", token, nil, &me); r.status != 200 || me.Pseudonym != "Rosa" {
		t.Fatalf("GET /me: got %d %q, want 200 Rosa", r.status, me.Pseudonym)
	}

	for i := range 2 {
		r := h.logIn(t, auth, nil)
		var s sessionOut
		if r.status != 200 || json.Unmarshal(r.body, &s) != nil || s.Pseudonym != "Rosa" {
			t.Fatalf("login %d: got %d %s, want 200 for Rosa", i, r.status, r.body)
		}
	}
}

func testBarePaths(t *testing.T, h *harness) {
	auth := newAuthenticator()
	var b begun
	r := h.call(t, "POST", "/auth/webauthn/register?step=begin", "", map[string]string{"pseudonym": "Bare"}, &b)
	if r.status != 200 {
		t.Fatalf("bare register begin: got %d, want 200 (%s)", r.status, r.body)
	}
	cred, _, _ := auth.Create(b.Options)
	if r := h.finish(t, "/auth/webauthn/register?step=finish", "", b, cred); r.status != 200 {
		t.Fatalf("bare register finish: got %d, want 200 (%s)", r.status, r.body)
	}
	if r := h.call(t, "POST", "/auth/webauthn/verify?step=sideways", "", nil, nil); r.status != 400 {
		t.Fatalf("bad step: got %d, want 400", r.status)
	}
}

func testRefusedRegistrations(t *testing.T, h *harness) {
	tests := []struct {
		name     string
		prepare  func(a *webauthntest.Authenticator)
		mangle   func(b *begun, cred json.RawMessage) json.RawMessage
		replay   bool
		expire   bool
		wantCode string
	}{
		{name: "wrong origin", prepare: func(a *webauthntest.Authenticator) { a.Origin = "https://evil.test" },
			wantCode: "credential_rejected"},
		{name: "wrong rp id", prepare: func(a *webauthntest.Authenticator) { a.RPIDOverride = "evil.test" },
			wantCode: "credential_rejected"},
		{name: "expired challenge", expire: true, wantCode: "ceremony_invalid"},
		{name: "replayed challenge", replay: true, wantCode: "ceremony_invalid"},
		{name: "malformed cbor", mangle: func(_ *begun, cred json.RawMessage) json.RawMessage {
			return setResponseField(t, cred, "attestationObject", []byte{0xa3, 0x63, 0x66, 0x6d})
		}, wantCode: "credential_malformed"},
		{name: "attestation without authData", mangle: func(_ *begun, cred json.RawMessage) json.RawMessage {
			// {"fmt":"none","attStmt":{}}
			obj := []byte{0xa2, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e',
				0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0}
			return setResponseField(t, cred, "attestationObject", obj)
		}, wantCode: "credential_malformed"},
		{name: "credential not an object", mangle: func(_ *begun, _ json.RawMessage) json.RawMessage {
			return json.RawMessage(`"nope"`)
		}, wantCode: "credential_malformed"},
		{name: "unknown ceremony", mangle: func(b *begun, cred json.RawMessage) json.RawMessage {
			b.CeremonyID = "AAAA"
			return cred
		}, wantCode: "ceremony_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accountsBefore := h.count(t, "content", "picket.accounts")
			auth := newAuthenticator()
			if tt.prepare != nil {
				tt.prepare(auth)
			}
			b := h.registerBegin(t, "Refused")
			cred, _, err := auth.Create(b.Options)
			if err != nil {
				t.Fatal(err)
			}
			if tt.mangle != nil {
				cred = tt.mangle(&b, cred)
			}
			if tt.expire {
				h.clock.Advance(5*time.Minute + time.Second)
			}
			if tt.replay {
				if r := h.finish(t, "/auth/webauthn/register/finish", "", b, cred); r.status != 200 {
					t.Fatalf("first finish: got %d, want 200", r.status)
				}
				accountsBefore++
			}

			r := h.finish(t, "/auth/webauthn/register/finish", "", b, cred)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status: got %d, want 4xx (%s)", r.status, r.body)
			}
			if e := decodeError(t, r); e.Code != tt.wantCode {
				t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
			}
			if n := h.count(t, "content", "picket.accounts"); n != accountsBefore {
				t.Errorf("accounts: got %d, want %d (no half-made account)", n, accountsBefore)
			}
		})
	}
}

func setResponseField(t testing.TB, cred json.RawMessage, field string, value []byte) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cred, &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)[field] = base64.RawURLEncoding.EncodeToString(value)
	out, _ := json.Marshal(m)
	return out
}

func testRefusedLogins(t *testing.T, h *harness) {
	auth := newAuthenticator()
	h.signUp(t, auth, "Counter")
	cred := auth.Credentials[0]
	if r := h.logIn(t, auth, cred); r.status != 200 {
		t.Fatalf("login: got %d, want 200", r.status)
	}

	// a clone that lags behind the real authenticator
	eventsBefore := h.count(t, "content", "logs.events where kind = 'passkey.counter_regressed'")
	auth.Counting = false
	cred.Counter = 1
	r := h.logIn(t, auth, cred)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("counter backwards: got %d, want 401", r.status)
	}
	if e := decodeError(t, r); e.Code != "passkey_counter_regressed" {
		t.Errorf("code: got %q, want passkey_counter_regressed", e.Code)
	}
	if n := h.count(t, "content", "logs.events where kind = 'passkey.counter_regressed'"); n != eventsBefore+1 {
		t.Errorf("clone events: got %d, want %d", n, eventsBefore+1)
	}
	if !strings.Contains(h.logs.String(), "possible clone") {
		t.Error("log: want a possible-clone warning")
	}

	tests := []struct {
		name     string
		prepare  func(a *webauthntest.Authenticator)
		wantCode string
	}{
		{name: "wrong origin", prepare: func(a *webauthntest.Authenticator) { a.Origin = "https://evil.test" },
			wantCode: "passkey_rejected"},
		{name: "wrong rp id", prepare: func(a *webauthntest.Authenticator) { a.RPIDOverride = "evil.test" },
			wantCode: "passkey_rejected"},
		{name: "backup eligibility changed", prepare: func(a *webauthntest.Authenticator) { a.BackupEligible = true },
			wantCode: "passkey_rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthenticator()
			h.signUp(t, a, "Login")
			tt.prepare(a)
			r := h.logIn(t, a, nil)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status: got %d, want 401 (%s)", r.status, r.body)
			}
			if e := decodeError(t, r); e.Code != tt.wantCode {
				t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
			}
		})
	}
}

func testBackupStateChange(t *testing.T, h *harness) {
	// a synced passkey: backup eligible, counter always 0
	auth := &webauthntest.Authenticator{Origin: testOrigin, BackupEligible: true}
	h.signUp(t, auth, "Synced")
	for _, state := range []bool{true, false, true} {
		auth.BackupState = state
		if r := h.logIn(t, auth, nil); r.status != 200 {
			t.Fatalf("login with backup state %v: got %d, want 200 (%s)", state, r.status, r.body)
		}
	}
}

func testSessions(t *testing.T, h *harness) {
	auth := newAuthenticator()
	first := h.signUp(t, auth, "Sessions")
	var second sessionOut
	if err := json.Unmarshal(h.logIn(t, auth, nil).body, &second); err != nil {
		t.Fatal(err)
	}

	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if r := h.call(t, "GET", "/me/sessions", first, nil, &list); r.status != 200 || len(list.Sessions) != 2 {
		t.Fatalf("sessions: got %d with %d, want 200 with 2", r.status, len(list.Sessions))
	}
	var other string
	for _, s := range list.Sessions {
		if !s.Current {
			other = s.ID
		}
	}
	if r := h.call(t, "DELETE", "/me/sessions/"+other, first, nil, nil); r.status != 204 {
		t.Fatalf("revoke: got %d, want 204", r.status)
	}
	if r := h.call(t, "GET", "/me", second.Token, nil, nil); r.status != 401 {
		t.Errorf("revoked token: got %d, want 401", r.status)
	}

	if r := h.call(t, "POST", "/auth/logout", first, nil, nil); r.status != 204 {
		t.Fatalf("logout: got %d, want 204", r.status)
	}
	if r := h.call(t, "GET", "/me", first, nil, nil); r.status != 401 {
		t.Errorf("token after logout: got %d, want 401", r.status)
	}

	// expiry, by the server's clock
	third := h.signUp(t, newAuthenticator(), "Expiring")
	h.clock.Advance(31 * 24 * time.Hour)
	if r := h.call(t, "GET", "/me", third, nil, nil); r.status != 401 {
		t.Errorf("token after 31 days: got %d, want 401", r.status)
	}
	if r := h.call(t, "GET", "/me", "", nil, nil); r.status != 401 {
		t.Errorf("no token: got %d, want 401", r.status)
	}

	// tokens are stored only as hashes
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.urls.Owner["content"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "select count(*) from picket.sessions where position($1::bytea in token_hash) > 0",
		[]byte(third)).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("raw token in sessions: got %d (%v), want 0", n, err)
	}
}

func testPasskeys(t *testing.T, h *harness) {
	phone := newAuthenticator()
	token := h.signUp(t, phone, "Keys")

	laptop := newAuthenticator()
	var b begun
	if r := h.call(t, "POST", "/me/passkeys/begin", token, nil, &b); r.status != 200 {
		t.Fatalf("add begin: got %d, want 200 (%s)", r.status, r.body)
	}
	// the new authenticator registers under the same user handle
	cred, _, err := laptop.Create(b.Options)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.finish(t, "/me/passkeys/finish", token, b, cred); r.status != 200 {
		t.Fatalf("add finish: got %d, want 200 (%s)", r.status, r.body)
	}
	if r := h.logIn(t, laptop, nil); r.status != 200 {
		t.Fatalf("login with the second passkey: got %d, want 200 (%s)", r.status, r.body)
	}

	var list struct {
		Passkeys []struct {
			ID string `json:"id"`
		} `json:"passkeys"`
	}
	if r := h.call(t, "GET", "/me/passkeys", token, nil, &list); r.status != 200 || len(list.Passkeys) != 2 {
		t.Fatalf("passkeys: got %d with %d, want 200 with 2", r.status, len(list.Passkeys))
	}
	if r := h.call(t, "DELETE", "/me/passkeys/"+list.Passkeys[0].ID, token, nil, nil); r.status != 204 {
		t.Fatalf("remove first: got %d, want 204", r.status)
	}
	r := h.call(t, "DELETE", "/me/passkeys/"+list.Passkeys[1].ID, token, nil, nil)
	if r.status != http.StatusConflict {
		t.Fatalf("remove last: got %d, want 409", r.status)
	}
	if r := h.logIn(t, phone, nil); r.status != http.StatusUnauthorized {
		t.Errorf("login with the removed passkey: got %d, want 401", r.status)
	}
}
