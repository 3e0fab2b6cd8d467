package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/internal/webauthntest"
	"github.com/picket-edge/picket/origin/internal/api"
)

// signUpScript registers and then logs in with the browser's own WebAuthn
// (the virtual authenticator answers), using the JSON helpers of
// PublicKeyCredential exactly as a web client would.
const signUpScript = `(async () => {
  const post = async (path, body) => {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json",
      "Accept": "application/json"}, body: JSON.stringify(body)});
    return {status: r.status, body: await r.json()};
  };
  let r = await post("/auth/webauthn/register/begin", {pseudonym: "Chromium"});
  if (r.status !== 200) return {step: "register begin", status: r.status};
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(r.body.options.publicKey)});
  r = await post("/auth/webauthn/register/finish",
    {ceremony_id: r.body.ceremony_id, credential: created.toJSON()});
  if (r.status !== 200) return {step: "register finish", status: r.status, code: r.body.error && r.body.error.code};

  r = await post("/auth/webauthn/verify/begin", {});
  if (r.status !== 200) return {step: "verify begin", status: r.status};
  const asserted = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(r.body.options.publicKey)});
  r = await post("/auth/webauthn/verify/finish",
    {ceremony_id: r.body.ceremony_id, credential: asserted.toJSON()});
  return {step: "verify finish", status: r.status, pseudonym: r.body.pseudonym || "",
    code: (r.body.error && r.body.error.code) || ""};
})()`

// TestChromiumPasskeySignUp runs a passkey sign-up and login in headless
// Chromium with a virtual authenticator (DevTools WebAuthn domain) against
// the origin on http://localhost:<port>, a secure context.
//
// Note: this drives the origin directly, not through the edge: Chromium
// refuses WebAuthn on a page whose TLS certificate it does not trust, and
// the edge's local CA is not in the test browser's trust store.
func TestChromiumPasskeySignUp(t *testing.T) {
	browser := webauthntest.StartChromium(t)
	var origin string
	h := newHarnessFor(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)}, func(addr string) api.WebAuthnConfig {
		_, port, _ := net.SplitHostPort(addr)
		origin = "http://localhost:" + port
		return api.WebAuthnConfig{RPID: "localhost", Origins: []string{origin}}
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := browser.Navigate(ctx, origin+"/privacy"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Step      string `json:"step"`
		Status    int    `json:"status"`
		Pseudonym string `json:"pseudonym"`
		Code      string `json:"code"`
	}
	if err := browser.Eval(signUpScript, &got); err != nil {
		t.Fatal(err)
	}
	if got.Step != "verify finish" || got.Status != 200 || got.Pseudonym != "Chromium" {
		t.Fatalf("ceremonies: got %+v, want verify finish 200 for Chromium", got)
	}
	if n := h.count(t, "content", "picket.accounts where pseudonym = 'Chromium'"); n != 1 {
		t.Errorf("accounts: got %d, want 1", n)
	}
}

// TestChromiumPasskeySignUpOverTLS is the same over HTTPS with a
// certificate the browser trusts only by its SPKI pin: the way to run the
// browser against an edge with a test CA.
func TestChromiumPasskeySignUpOverTLS(t *testing.T) {
	cert, spki := localhostCert(t)
	browser := webauthntest.StartChromium(t, "--ignore-certificate-errors-spki-list="+spki)
	var origin string
	newHarnessFor(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)}, func(addr string) api.WebAuthnConfig {
		_, port, _ := net.SplitHostPort(addr)
		origin = "https://localhost:" + port
		return api.WebAuthnConfig{RPID: "localhost", Origins: []string{origin}}
	}, withTLS(cert))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := browser.Navigate(ctx, origin+"/privacy"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Step      string `json:"step"`
		Status    int    `json:"status"`
		Pseudonym string `json:"pseudonym"`
		Code      string `json:"code"`
	}
	if err := browser.Eval(signUpScript, &got); err != nil {
		t.Fatal(err)
	}
	if got.Step != "verify finish" || got.Status != 200 || got.Pseudonym != "Chromium" {
		t.Fatalf("ceremonies: got %+v, want verify finish 200 for Chromium", got)
	}
}

// localhostCert makes a self-signed certificate for localhost and returns
// it with the base64 SHA-256 of its public key info.
func localhostCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		base64.StdEncoding.EncodeToString(sum[:])
}
