// Package gateway carries the gateway's decision about a request's sender to
// the origin in one header, X-Picket-Client, and lets the origin accept that
// header only when the gateway made it.
//
// The gateway signs the header with HMAC-SHA256 under a key shared with the
// origin, over the client IP, the source class, the origin-pull flag, a
// timestamp and the request id (X-Request-Id). The origin wraps its handler
// in Verify, which checks the signature, the request id and the age, puts the
// result in the request context, and always removes the header so that no
// later code can read an unverified copy. See RATIONALE.md, "Why is the
// origin header signed?".
package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Header is the one header that carries the gateway's decision.
const Header = "X-Picket-Client"

// RequestIDHeader is where the gateway forwards its request id.
const RequestIDHeader = "X-Request-Id"

// MinKeyLen is the shortest accepted key, in bytes.
const MinKeyLen = 32

// DefaultMaxAge bounds how old a signed header may be.
const DefaultMaxAge = 30 * time.Second

const version = "v1"

// Client is what the gateway tells the origin about a request's sender.
type Client struct {
	// IP is the client IP; invalid for onion traffic.
	IP netip.Addr
	// Source is the source class: "cloudflare", "onion" or "local".
	Source string
	// VerifiedPull reports an authenticated origin pull.
	VerifiedPull bool
}

// Sign returns the header value for c on the request with requestID.
func Sign(key []byte, c Client, requestID string, now time.Time) string {
	ip := ""
	if c.IP.IsValid() {
		ip = c.IP.String()
	}
	pull := "0"
	if c.VerifiedPull {
		pull = "1"
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := mac(key, ip, c.Source, pull, ts, requestID)
	return version + ";ip=" + ip + ";source=" + c.Source + ";pull=" + pull +
		";t=" + ts + ";sig=" + sig
}

func mac(key []byte, fields ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(version))
	for _, f := range fields {
		// a newline cannot occur in any field, so the encoding is unambiguous.
		m.Write([]byte{'\n'})
		m.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Errors returned by Parse. Callers normally only log the kind.
var (
	ErrMalformed = errors.New("malformed client header")
	ErrSignature = errors.New("client header signature mismatch")
	ErrExpired   = errors.New("client header too old or from the future")
)

// Parse checks value against key, the request id and the time, and returns
// the client it describes.
func Parse(key []byte, value, requestID string, now time.Time, maxAge time.Duration) (Client, error) {
	f, ok := fields(value)
	if !ok {
		return Client{}, ErrMalformed
	}
	want := mac(key, f["ip"], f["source"], f["pull"], f["t"], requestID)
	if !hmac.Equal([]byte(want), []byte(f["sig"])) {
		return Client{}, ErrSignature
	}

	ts, err := strconv.ParseInt(f["t"], 10, 64)
	if err != nil {
		return Client{}, ErrMalformed
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > maxAge || age < -maxAge {
		return Client{}, ErrExpired
	}

	c := Client{Source: f["source"], VerifiedPull: f["pull"] == "1"}
	if f["ip"] != "" {
		if c.IP, err = netip.ParseAddr(f["ip"]); err != nil {
			return Client{}, ErrMalformed
		}
	}
	return c, nil
}

// fields splits "v1;k=v;..." into its keys; every key must appear once.
func fields(value string) (map[string]string, bool) {
	parts := strings.Split(value, ";")
	if len(parts) != 6 || parts[0] != version {
		return nil, false
	}
	f := make(map[string]string, 5)
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, false
		}
		if _, dup := f[k]; dup {
			return nil, false
		}
		f[k] = v
	}
	for _, k := range []string{"ip", "source", "pull", "t", "sig"} {
		if _, ok := f[k]; !ok {
			return nil, false
		}
	}
	return f, true
}

// VerifyConfig configures Verify. The zero value of every field but Key is
// a safe default.
type VerifyConfig struct {
	// Key shared with the gateway; at least MinKeyLen bytes.
	Key []byte
	// MaxAge bounds the header's age. Default DefaultMaxAge.
	MaxAge time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// OnReject, if set, is told the kind of each rejected header (for a
	// metric). It never receives the header value.
	OnReject func(error)
}

type ctxKey struct{}

// Verify wraps next so that a request carries a Client in its context only
// when its X-Picket-Client header was made by the gateway for this request.
// The header is removed in every case.
func Verify(next http.Handler, cfg VerifyConfig) (http.Handler, error) {
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("gateway key: %d bytes, want at least %d", len(cfg.Key), MinKeyLen)
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values(Header)
		r.Header.Del(Header)
		// the gateway sends an empty value when it has no key configured.
		if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
			next.ServeHTTP(w, r)
			return
		}
		if len(vals) > 1 {
			reject(cfg, ErrMalformed)
			next.ServeHTTP(w, r)
			return
		}
		c, err := Parse(cfg.Key, vals[0], r.Header.Get(RequestIDHeader), cfg.Now(), cfg.MaxAge)
		if err != nil {
			reject(cfg, err)
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	}), nil
}

func reject(cfg VerifyConfig, err error) {
	if cfg.OnReject != nil {
		cfg.OnReject(err)
	}
}

// From returns the verified client of a request that passed Verify.
func From(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(ctxKey{}).(Client)
	return c, ok
}
