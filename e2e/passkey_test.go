package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/webauthntest"
)

// passkeyScript signs up with the browser's own WebAuthn (the virtual
// authenticator answers) and then logs in, the way a web client would: the
// JSON helpers of PublicKeyCredential, relative URLs, so every request goes
// to the page's host, the Cloudflare stand-in. It makes exactly four
// requests to the auth routes, under the shipped limit of five a minute.
//
// The edge marks each answer with Strict-Transport-Security, which neither
// the stand-in nor the origin sends: the script reports whether it saw it.
const passkeyScript = `(async () => {
  let viaEdge = true;
  const post = async (path, body) => {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json",
      "Accept": "application/json"}, body: JSON.stringify(body)});
    viaEdge = viaEdge && r.headers.get("Strict-Transport-Security") !== null;
    return {status: r.status, body: await r.json()};
  };
  const code = (r) => (r.body.error && r.body.error.code) || "";
  const fail = (step, r) => ({step, status: r.status, code: code(r), via_edge: viaEdge});

  let r = await post("/auth/webauthn/register/begin", {pseudonym: "Chromium"});
  if (r.status !== 200) return fail("register begin", r);
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(r.body.options.publicKey)});
  r = await post("/auth/webauthn/register/finish",
    {ceremony_id: r.body.ceremony_id, credential: created.toJSON()});
  if (r.status !== 200) return fail("register finish", r);
  const signedUp = r.body.pseudonym || "";

  r = await post("/auth/webauthn/verify/begin", {});
  if (r.status !== 200) return fail("verify begin", r);
  const asserted = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(r.body.options.publicKey)});
  r = await post("/auth/webauthn/verify/finish",
    {ceremony_id: r.body.ceremony_id, credential: asserted.toJSON()});
  if (r.status !== 200) return fail("verify finish", r);
  return {step: "done", status: r.status, code: "", via_edge: viaEdge,
    signed_up: signedUp, pseudonym: r.body.pseudonym || "", token: r.body.token || ""};
})()`

// TestChromiumPasskeySignUpThroughEdge signs up with a passkey and logs in
// from headless Chromium with a virtual authenticator (DevTools WebAuthn
// domain), through the Cloudflare stand-in, the custom Caddy with the
// repository's Caddyfile and the origin binary on PostgreSQL. The page is
// http://localhost:<stand-in port>, a secure context without TLS, so the
// browser needs no trust in the edge's local CA.
func TestChromiumPasskeySignUpThroughEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium, PostgreSQL, the origin and the custom Caddy")
	}
	browser := webauthntest.StartChromium(t)
	s := startStack(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := browser.Navigate(ctx, s.browserOrigin+"/privacy"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Step      string `json:"step"`
		Status    int    `json:"status"`
		Code      string `json:"code"`
		ViaEdge   bool   `json:"via_edge"`
		SignedUp  string `json:"signed_up"`
		Pseudonym string `json:"pseudonym"`
		Token     string `json:"token"`
	}
	if err := browser.Eval(passkeyScript, &got); err != nil {
		t.Fatal(err)
	}
	// the token is never printed
	if got.Step != "done" || got.Status != 200 {
		t.Fatalf("ceremonies: got step %q status %d code %q, want done 200", got.Step, got.Status, got.Code)
	}
	if !got.ViaEdge {
		t.Error("ceremony answers: got one without the edge's Strict-Transport-Security, want all")
	}
	if got.SignedUp != "Chromium" || got.Pseudonym != "Chromium" {
		t.Errorf("pseudonym: got %q at sign-up and %q at login, want Chromium", got.SignedUp, got.Pseudonym)
	}
	if got.Token == "" {
		t.Fatal("login: got no session token, want one")
	}

	me := s.edge.getMe(t, got.Token)
	if me.status != http.StatusOK {
		t.Fatalf("GET /me: got %d %s, want 200", me.status, me.body)
	}
	var profile struct {
		Pseudonym string `json:"pseudonym"`
	}
	if err := json.Unmarshal(me.body, &profile); err != nil || profile.Pseudonym != "Chromium" {
		t.Errorf("GET /me: got %s (%v), want pseudonym Chromium", me.body, err)
	}
	checkResponseHeaders(t, &http.Response{Header: me.header})

	if r := s.edge.getMe(t, "not-a-session"); r.status != http.StatusUnauthorized {
		t.Errorf("GET /me with a made-up token: got %d, want 401", r.status)
	}
}

// getMe asks for the session's profile through the stand-in.
func (e *edge) getMe(t *testing.T, token string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/me", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /me: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}
