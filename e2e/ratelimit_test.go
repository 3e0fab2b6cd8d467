package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestShippedRateLimits drives the auth zone of the shipped limits through
// the repository's Caddyfile, the Cloudflare stand-in and a real Redis.
func TestShippedRateLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and the custom Caddy binary")
	}
	origin := echoOrigin(t)
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"))

	post := func(t *testing.T, c *http.Client, base, path string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader("{}"))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	// a client rotating X-Forwarded-For is still one client: the sixth
	// ceremony step within the minute is refused
	for i := range 5 {
		resp, body := post(t, http.DefaultClient, e.base, "/auth/webauthn/register/begin",
			map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i+1)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: got %d %s, want 200", i+1, resp.StatusCode, body)
		}
	}
	resp, body := post(t, http.DefaultClient, e.base, "/auth/webauthn/verify/finish",
		map[string]string{"X-Forwarded-For": "198.51.100.99"})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sixth request: got %d %s, want 429", resp.StatusCode, body)
	}
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 3500 || retry > 3600 {
		t.Errorf("Retry-After: got %q, want whole seconds of about an hour", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("RateLimit-Policy") == "" {
		t.Error("no RateLimit-Policy header on the refusal")
	}
	var parsed struct {
		Error struct{ Code, RequestID string } `json:"error"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil || parsed.Error.Code != "rate_limited" {
		t.Errorf("body: got %s, want the rate_limited error", body)
	}

	// another client, as Cloudflare reports it, has its own bucket
	other := e.newClient(true)
	resp, body = post(t, other, e.direct, "/auth/webauthn/register/begin",
		map[string]string{"CF-Connecting-IP": "203.0.113.50"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: got %d %s, want 200", resp.StatusCode, body)
	}

	// other routes are not in the auth zone
	if r := e.get(t, "/health", ""); r.status != http.StatusOK {
		t.Errorf("health for the blocked client: got %d, want 200", r.status)
	}
}
