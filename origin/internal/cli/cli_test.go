package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/cli"
	"github.com/picket-edge/picket/origin/internal/database"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mapEnv(m map[string]string) cli.Env {
	return func(k string) string { return m[k] }
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{name: "no command", args: nil, wantCode: 2, wantErr: "no command given"},
		{name: "unknown command", args: []string{"fly"}, wantCode: 2, wantErr: `unknown command "fly"`},
		{name: "bootstrap without env-out", args: []string{"bootstrap"}, wantCode: 2,
			wantErr: "-env-out is required"},
		{name: "bootstrap without admin", args: []string{"bootstrap", "-env-out", "x"},
			wantCode: 1, wantErr: "missing environment variable PICKET_PG_ADMIN_URL"},
		{name: "migrate without env", args: []string{"migrate"},
			env:      map[string]string{"PICKET_CONTENT_OWNER_URL": "postgres://x"},
			wantCode: 1,
			wantErr:  "missing environment variable PICKET_MEMBERSHIP_OWNER_URL, PICKET_BALLOT_OWNER_URL"},
		{name: "serve without env", args: []string{"serve"}, wantCode: 1,
			wantErr: "PICKET_CONTENT_DATABASE_URL"},
		{name: "serve with extra argument", args: []string{"serve", "now"}, wantCode: 2,
			wantErr: `unexpected argument "now"`},
		{name: "unknown flag", args: []string{"migrate", "-x"}, wantCode: 2,
			wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Main(context.Background(), tt.args, mapEnv(tt.env),
				cli.Streams{Out: &out, Err: &errOut})
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut.String(), tt.wantErr)
			}
		})
	}
}

func TestServeInvalidURLNotEchoed(t *testing.T) {
	secret := "postgres://u:s3cret-marker@127.0.0.1:1/x?sslmode=bogus"
	env := map[string]string{}
	for _, s := range database.Specs {
		env[s.AppEnv()] = secret
	}
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"serve"}, mapEnv(env),
		cli.Streams{Out: &out, Err: &errOut})
	if code != 1 {
		t.Errorf("exit code: got %d, want 1", code)
	}
	if strings.Contains(errOut.String(), "s3cret-marker") || strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Errorf("stderr echoes the URL: %q", errOut.String())
	}
}

// TestBootstrapMigrateServe runs the three commands as scripts/run does,
// serving on a unix socket, and stops the server by cancelling (SIGTERM).
func TestBootstrapMigrateServe(t *testing.T) {
	c := pgtest.Start(t)
	envOut := filepath.Join(t.TempDir(), "origin.env")
	var out, errOut lockedBuffer
	st := cli.Streams{Out: &out, Err: &errOut}
	ctx := context.Background()

	env := map[string]string{"PICKET_PG_ADMIN_URL": c.URL("postgres")}
	if code := cli.Main(ctx, []string{"bootstrap", "-env-out", envOut}, mapEnv(env), st); code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut.String())
	}
	vals, err := database.ReadEnvFile(envOut)
	if err != nil {
		t.Fatal(err)
	}
	if code := cli.Main(ctx, []string{"migrate"}, mapEnv(vals), st); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut.String())
	}

	// the one-off purge removes a day-old event and keeps a fresh one
	c.Exec("content",
		"insert into logs.events (at, kind) values (now() - interval '25 hours', 'test.old')",
		"insert into logs.events (at, kind) values (now() - interval '1 hour', 'test.new')")
	if code := cli.Main(ctx, []string{"purge"}, mapEnv(vals), st); code != 0 {
		t.Fatalf("purge: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "purged 1 events") {
		t.Errorf("purge output: got %q, want purged 1 events", out.String())
	}

	sock := filepath.Join(t.TempDir(), "origin.sock")
	vals["PICKET_ORIGIN_LISTEN"] = "unix:" + sock
	vals["PICKET_KEYRING_DIR"] = filepath.Join(t.TempDir(), "keyring")
	sctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- cli.Main(sctx, []string{"serve"}, mapEnv(vals), st) }()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	status := waitHealthy(t, client, done)
	if status != http.StatusOK {
		t.Fatalf("health over the socket: got %d, want 200", status)
	}

	stop()
	if code := <-done; code != 0 {
		t.Errorf("serve exit: got %d, want 0: %s", code, errOut.String())
	}

	all := out.String() + errOut.String()
	for k, v := range vals {
		if strings.HasPrefix(k, "PICKET_") && strings.Contains(v, "@") && strings.Contains(all, v) {
			t.Errorf("output holds %s", k)
		}
	}
	if !strings.Contains(errOut.String(), "origin stopped") {
		t.Errorf("log: want a clean stop line, got %s", errOut.String())
	}
}

// waitHealthy polls until the server answers (it starts in a goroutine).
func waitHealthy(t *testing.T, client *http.Client, done <-chan int) int {
	t.Helper()
	for range 400 {
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d", code)
		default:
		}
		res, err := client.Get("http://origin/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("server did not answer on its socket")
	return 0
}

func TestKeysCommand(t *testing.T) {
	env := mapEnv(map[string]string{
		"PICKET_KEYRING_DIR": filepath.Join(t.TempDir(), "keyring"),
		"PICKET_MASTER_KEY":  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{name: "info creates", args: []string{"keys", "info", "membership"}, wantOut: "latest version 1, minimum decryption version 1"},
		{name: "rotate", args: []string{"keys", "rotate", "membership"}, wantOut: "latest version 2, minimum decryption version 1"},
		{name: "raise minimum", args: []string{"keys", "min-version", "membership", "2"}, wantOut: "latest version 2, minimum decryption version 2"},
		{name: "minimum past latest", args: []string{"keys", "min-version", "membership", "3"}, wantCode: 1},
		{name: "ballot member key refused", args: []string{"keys", "min-version", "ballot-member", "1"}, wantCode: 2},
		{name: "ballot member key forced", args: []string{"keys", "min-version", "ballot-member", "1", "force"}, wantOut: "minimum decryption version 1"},
		{name: "bad op", args: []string{"keys", "export", "membership"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Main(context.Background(), tt.args, env, cli.Streams{Out: &out, Err: &errOut})
			if code != tt.wantCode {
				t.Fatalf("exit: got %d, want %d (%s)", code, tt.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output: got %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}
