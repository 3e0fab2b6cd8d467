package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/picket-edge/picket/internal/pgtest"
)

// stack is the origin binary on real PostgreSQL behind the custom Caddy.
type stack struct {
	edge   *edge
	origin *process
	ballot *pgtest.Cluster
	// browserOrigin is the stand-in as a browser names it, a secure context
	// without TLS; the origin accepts it as a WebAuthn origin.
	browserOrigin string
}

// startStack bootstraps and migrates the three databases with bin/origin
// (ballot on a cluster of its own, so a test can stop it), serves the origin
// and puts the edge in front of it.
func startStack(t *testing.T) *stack {
	t.Helper()
	main, ballot := pgtest.Start(t), pgtest.Start(t)
	bin := binary(t, "PICKET_ORIGIN_BIN", "origin", "./origin/cmd/origin")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "origin.env")

	run := func(env []string, args ...string) {
		t.Helper()
		p := startProcess(t, env, bin, args...)
		<-p.done
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("origin %s: exit %d\n%s", args[0], code, p.output.String())
		}
	}
	run([]string{
		"PICKET_PG_ADMIN_URL=" + main.URL("postgres"),
		"PICKET_BALLOT_ADMIN_URL=" + ballot.URL("postgres"),
	}, "bootstrap", "-env-out", envFile)
	env := readEnvFile(t, envFile)
	run(env, "migrate")

	// the stand-in's port is chosen first: the origin must accept
	// WebAuthn from a page served there (ballotmint's software passkeys
	// keep the default https://localhost)
	port, standinPort := freePort(t), freePort(t)
	browserOrigin := "http://localhost:" + strconv.Itoa(standinPort)
	env = append(env,
		"PICKET_ORIGIN_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"PICKET_WEBAUTHN_RP_ID=localhost",
		"PICKET_WEBAUTHN_ORIGINS=https://localhost,"+browserOrigin,
		"PICKET_KEYRING_DIR="+filepath.Join(dir, "keyring"),
		"PICKET_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"PICKET_GATEWAY_KEY="+testGatewayKey,
	)
	origin := startProcess(t, env, bin, "serve")
	waitFor(t, origin, "the origin to listen", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return &stack{
		edge:          startEdgeAt(t, "127.0.0.1:"+strconv.Itoa(port), standinPort),
		origin:        origin,
		ballot:        ballot,
		browserOrigin: browserOrigin,
	}
}

// readEnvFile reads the KEY='value' lines bin/origin bootstrap writes.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		env = append(env, k+"="+strings.ReplaceAll(v, `'\''`, "'"))
	}
	if len(env) < 6 {
		t.Fatalf("got %d variables from %s, want at least 6", len(env), path)
	}
	return env
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (e *edge) get(t *testing.T, path, accept string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

func TestStackThroughEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL, the origin and the custom Caddy")
	}
	s := startStack(t)

	tests := []struct {
		name       string
		path       string
		accept     string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{name: "health", path: "/health", wantStatus: 200, wantType: "application/json", wantBody: `"membership":"ok"`},
		{name: "privacy as HTML", path: "/privacy", accept: "text/html", wantStatus: 200, wantType: "text/html", wantBody: "<html"},
		{name: "privacy as JSON", path: "/privacy", accept: "application/json", wantStatus: 200, wantType: "application/json", wantBody: `"sections"`},
		{name: "origin 404", path: "/unions/no-such-union", accept: "application/json", wantStatus: 404, wantType: "application/json", wantBody: `"request_id"`},
		{name: "not behind the edge", path: "/admin", wantStatus: 404, wantType: "application/json", wantBody: `"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.edge.get(t, tt.path, tt.accept)
			if r.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", r.status, tt.wantStatus, r.body)
			}
			if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, tt.wantType) {
				t.Errorf("Content-Type: got %q, want %s", got, tt.wantType)
			}
			if !strings.Contains(string(r.body), tt.wantBody) {
				t.Errorf("body: got %s, want it to contain %s", r.body, tt.wantBody)
			}
			checkResponseHeaders(t, &http.Response{Header: r.header})
		})
	}

	t.Run("the request id the origin reports is the edge's", func(t *testing.T) {
		r := s.edge.get(t, "/unions/no-such-union", "application/json")
		var body struct {
			Error struct {
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if got := r.header.Get("X-Request-Id"); got == "" || got != body.Error.RequestID {
			t.Errorf("X-Request-Id %q and body request_id %q: want the same, non-empty",
				got, body.Error.RequestID)
		}
	})

	t.Run("one database stopped", func(t *testing.T) {
		s.ballot.Stop()
		r := s.edge.get(t, "/health", "")
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"ballot":"down"`) {
			t.Fatalf("health: got %d %s, want 503 naming ballot", r.status, r.body)
		}
		if strings.Contains(string(r.body), "postgres://") || strings.Contains(string(r.body), "password") {
			t.Fatalf("health body leaks connection details: %s", r.body)
		}
		if r := s.edge.get(t, "/privacy", "application/json"); r.status != 200 {
			t.Errorf("privacy while ballot is down: got %d, want 200", r.status)
		}
		s.ballot.Restart()
	})
}
