package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/picket-edge/picket/internal/pgtest"
)

// TestHealthNamesStoppedDatabase keeps ballot on a cluster of its own and
// stops it: /health names ballot with 503 while other routes keep working,
// and recovers when it comes back.
func TestHealthNamesStoppedDatabase(t *testing.T) {
	main, ballotCluster := pgtest.Start(t), pgtest.Start(t)
	h := newHarness(t, map[string]*pgtest.Cluster{"": main, "ballot": ballotCluster})

	if r := h.do(t, http.MethodGet, "/health", nil, nil); r.status != http.StatusOK {
		t.Fatalf("health before stop: got %d, want 200", r.status)
	}

	ballotCluster.Stop()
	r := h.do(t, http.MethodGet, "/health", nil, nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("health after stop: got %d, want 503 (%s)", r.status, r.body)
	}
	var body struct {
		Status    string            `json:"status"`
		Databases map[string]string `json:"databases"`
		Error     struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"content": "ok", "membership": "ok", "ballot": "down"}
	for k, v := range want {
		if body.Databases[k] != v {
			t.Errorf("databases[%s]: got %q, want %q", k, body.Databases[k], v)
		}
	}
	if body.Error.Code != "database_unavailable" || body.Error.Message != "unavailable: ballot" {
		t.Errorf("error: got %+v, want database_unavailable naming ballot", body.Error)
	}

	for _, tc := range []struct {
		path string
		want int
	}{
		{path: "/privacy", want: http.StatusOK},
		{path: "/unions", want: http.StatusOK},
		{path: "/ballots/0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", want: http.StatusInternalServerError},
		{path: "/nope", want: http.StatusNotFound},
	} {
		if r := h.do(t, http.MethodGet, tc.path, nil, nil); r.status != tc.want {
			t.Errorf("%s while ballot is down: got %d, want %d", tc.path, r.status, tc.want)
		}
	}

	ballotCluster.Restart()
	if r := h.do(t, http.MethodGet, "/health", nil, nil); r.status != http.StatusOK {
		t.Errorf("health after restart: got %d, want 200 (%s)", r.status, r.body)
	}
}
