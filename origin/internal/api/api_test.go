package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/api"
	"github.com/picket-edge/picket/origin/internal/database"
	"github.com/picket-edge/picket/origin/internal/database/dbtest"
	"github.com/picket-edge/picket/origin/internal/keys"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	url   string
	logs  *syncBuffer
	clock *clock
	urls  dbtest.URLs
	keys  *keys.Keyring
}

// clock is the server's injected time; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testRPID   = "picket.test"
	testOrigin = "https://picket.test"
)

// newHarness serves the API over loopback on databases in clusters (see
// dbtest.Setup for the map), logging JSON at debug level into a buffer.
func newHarness(t testing.TB, clusters map[string]*pgtest.Cluster) *harness {
	t.Helper()
	return newHarnessFor(t, clusters, func(string) api.WebAuthnConfig {
		return api.WebAuthnConfig{RPID: testRPID, Origins: []string{testOrigin}}
	})
}

// newHarnessFor is newHarness with the relying party chosen once the
// server's address (host:port) is known.
func newHarnessFor(t testing.TB, clusters map[string]*pgtest.Cluster,
	rp func(addr string) api.WebAuthnConfig, opts ...func(*httptest.Server),
) *harness {
	t.Helper()
	urls := dbtest.Setup(t, clusters)
	pools := dbtest.Open(t, urls)

	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	km, err := keys.OpenKeyring(filepath.Join(t.TempDir(), "keyring"),
		bytes.Repeat([]byte{7}, keys.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	clk := &clock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	handler, err := api.New(api.Config{
		Databases: pools, Names: database.Names(), Logger: logger,
		App: &api.AppConfig{
			Content: pools["content"], Membership: pools["membership"], Keys: km,
			Ballot: pools["ballot"], BallotKeys: testBallotKeys,
			WebAuthn: rp(srv.Listener.Addr().String()),
			Now:      clk.Now,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handler
	for _, o := range opts {
		o(srv)
	}
	if srv.TLS != nil {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &harness{url: srv.URL, logs: logs, clock: clk, urls: urls, keys: km}
}

// withTLS serves with cert instead of plain HTTP.
func withTLS(cert tls.Certificate) func(*httptest.Server) {
	return func(s *httptest.Server) {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(t testing.TB, method, path string, hdr map[string]string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func decodeError(t testing.TB, r response) apierror.Detail {
	t.Helper()
	var body apierror.Body
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return body.Error
}

func TestServer(t *testing.T) {
	h := newHarness(t, map[string]*pgtest.Cluster{"": pgtest.Start(t)})
	t.Run("health ok", func(t *testing.T) { testHealthOK(t, h) })
	t.Run("bad input", func(t *testing.T) { testBadInput(t, h) })
	t.Run("skeleton routes", func(t *testing.T) { testSkeleton(t, h) })
	t.Run("privacy by accept", func(t *testing.T) { testPrivacy(t, h) })
	t.Run("request id", func(t *testing.T) { testRequestID(t, h) })
	t.Run("log privacy", func(t *testing.T) { testLogPrivacy(t, h) })
}

func testHealthOK(t *testing.T, h *harness) {
	r := h.do(t, http.MethodGet, "/health", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (%s)", r.status, r.body)
	}
	want := `{"status":"ok","databases":{"ballot":"ok","content":"ok","membership":"ok"}}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func testBadInput(t *testing.T, h *harness) {
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantAllow  string
	}{
		{name: "malformed json", method: "POST", path: "/auth/webauthn/register/begin",
			body: `{"pseudonym":`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "trailing data", method: "POST", path: "/auth/webauthn/register/begin",
			body: `{"pseudonym":"a"} {}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "unknown field", method: "POST", path: "/auth/webauthn/register/begin",
			body: `{"pseudonym":"a","email":"x@example.org"}`, wantStatus: 400,
			wantCode: "malformed_json"},
		{name: "over the cap", method: "POST", path: "/auth/webauthn/register/begin",
			body:       `{"x":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`,
			wantStatus: 413, wantCode: "body_too_large"},
		{name: "finish over the cap", method: "POST", path: "/auth/webauthn/verify/finish",
			body:       `{"ceremony_id":"x","credential":"` + strings.Repeat("b", api.MaxBodyBytes) + `"}`,
			wantStatus: 413, wantCode: "body_too_large"},
		{name: "unknown route", method: "GET", path: "/nope", wantStatus: 404, wantCode: "not_found"},
		{name: "unclean path", method: "GET", path: "/a/../health", wantStatus: 404,
			wantCode: "not_found"},
		{name: "wrong method", method: "POST", path: "/health", body: `{}`,
			wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
		{name: "wrong method privacy", method: "DELETE", path: "/privacy",
			wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, tt.method, tt.path, map[string]string{"Content-Type": "application/json"},
				strings.NewReader(tt.body))
			if r.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content type: got %q, want application/json", ct)
			}
			e := decodeError(t, r)
			if e.Code != tt.wantCode {
				t.Errorf("code: got %q, want %q", e.Code, tt.wantCode)
			}
			if e.RequestID == "" || e.RequestID != r.header.Get("X-Request-Id") {
				t.Errorf("request id: got %q in body, %q in header, want equal and set",
					e.RequestID, r.header.Get("X-Request-Id"))
			}
			if tt.wantAllow != "" && r.header.Get("Allow") != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", r.header.Get("Allow"), tt.wantAllow)
			}
		})
	}
}

func testSkeleton(t *testing.T, h *harness) {
	// the ballot routes have landed: no route of the skeleton answers 501
	for _, p := range []string{"/ballots", "/ballots/1"} {
		t.Run(p, func(t *testing.T) {
			r := h.do(t, http.MethodGet, p, nil, nil)
			if r.status == http.StatusNotImplemented {
				t.Fatalf("status: got 501, want the ballot routes")
			}
		})
	}
}

func testPrivacy(t *testing.T, h *harness) {
	tests := []struct {
		name   string
		accept string
		want   string
	}{
		{name: "no accept", accept: "", want: "text/html"},
		{name: "browser", accept: "text/html,application/xhtml+xml,*/*;q=0.8", want: "text/html"},
		{name: "app", accept: "application/json", want: "application/json"},
		{name: "json preferred", accept: "text/html;q=0.5, application/json", want: "application/json"},
		{name: "anything", accept: "*/*", want: "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.accept != "" {
				hdr["Accept"] = tt.accept
			}
			r := h.do(t, http.MethodGet, "/privacy", hdr, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status: got %d, want 200", r.status)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.want) {
				t.Fatalf("content type: got %q, want %s", ct, tt.want)
			}
			if tt.want == "application/json" {
				var p api.Policy
				if err := json.Unmarshal(r.body, &p); err != nil || len(p.Sections) == 0 {
					t.Errorf("policy JSON: got %v (%d sections), want sections", err, len(p.Sections))
				}
			} else if !bytes.Contains(r.body, []byte("<h1>")) || bytes.Contains(r.body, []byte("<script")) {
				t.Errorf("policy HTML: want a heading and no script")
			}
		})
	}
}

func testRequestID(t *testing.T, h *harness) {
	tests := []struct {
		name    string
		inbound string
		keep    bool
	}{
		{name: "edge uuid kept", inbound: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", keep: true},
		{name: "missing", inbound: "", keep: false},
		{name: "too short", inbound: "abc", keep: false},
		{name: "log injection", inbound: "abcdefgh\" injected", keep: false},
		{name: "too long", inbound: strings.Repeat("a", 65), keep: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.inbound != "" {
				hdr["X-Request-Id"] = tt.inbound
			}
			r := h.do(t, http.MethodGet, "/nope", hdr, nil)
			got := r.header.Get("X-Request-Id")
			if tt.keep && got != tt.inbound {
				t.Errorf("request id: got %q, want %q", got, tt.inbound)
			}
			if !tt.keep && (got == tt.inbound || len(got) != 36) {
				t.Errorf("request id: got %q, want a fresh uuid", got)
			}
		})
	}
}

func testLogPrivacy(t *testing.T, h *harness) {
	markers := map[string]string{
		"X-Forwarded-For": "203.0.113.77",
		"X-Real-IP":       "198.51.100.99",
		"User-Agent":      "MarkerAgent/7.7 (privacy-probe)",
		"Cookie":          "session=marker-cookie-c0ffee",
		"Authorization":   "Bearer marker-token-deadbeef",
	}
	body := `{"pseudonym":"marker-body-pseudonym"}`
	paths := []string{"/health", "/privacy", "/unions/marker-path-id", "/nope-marker-path",
		"/auth/webauthn/register/begin"}
	for _, p := range paths {
		h.do(t, http.MethodPost, p, markers, strings.NewReader(body))
		h.do(t, http.MethodGet, p, markers, nil)
	}

	// a signed-up account with a marker pseudonym that joins and posts
	pseudonym := "MarkerPseudonym-5e1f"
	token := h.signUp(t, newAuthenticator(), pseudonym)
	withMarkers := func(m map[string]string) map[string]string {
		out := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
		for k, v := range m {
			if k != "Authorization" {
				out[k] = v
			}
		}
		return out
	}
	h.do(t, "POST", "/unions", withMarkers(markers),
		strings.NewReader(`{"slug":"marker-union","name":"Marker Union"}`))
	h.do(t, "POST", "/unions/marker-union/posts", withMarkers(markers),
		strings.NewReader(`{"body":"marker-post-body"}`))
	h.do(t, "GET", "/unions/marker-union", markers, nil)

	logs := h.logs.String()
	if !strings.Contains(logs, `"route":"GET /unions/{slug}"`) {
		t.Fatalf("logs: want request lines with route patterns, got %s", logs)
	}
	all := []string{"marker-body-pseudonym", "marker-path-id", "nope-marker-path", "127.0.0.1",
		pseudonym, "marker-union", "marker-post-body", token}
	for _, v := range markers {
		all = append(all, v)
	}
	for _, m := range all {
		if strings.Contains(logs, m) {
			t.Errorf("logs hold marker %q", m)
		}
	}
	eventRows := eventsDump(t, h)
	if !strings.Contains(eventRows, "post.created") {
		t.Fatalf("logs.events: want a post.created row, got %s", eventRows)
	}
	for _, m := range all {
		if strings.Contains(eventRows, m) {
			t.Errorf("logs.events holds marker %q", m)
		}
	}
}

func eventsDump(t testing.TB, h *harness) string {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, h.urls.Owner["content"])
	rows, err := conn.Query(ctx, "select row_to_json(e)::text from logs.events e")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
