package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/redistest"
)

// caddyProcess is one real Caddy process built from testdata/caddybin.
type caddyProcess struct {
	base, admin string
	cmd         *exec.Cmd
}

func buildCaddy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caddy")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/caddybin").CombinedOutput()
	if err != nil {
		t.Fatalf("building caddy: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs bin with a vote zone on the shared Redis; its clock is
// Redis's TIME, as in production.
func startProcess(t *testing.T, bin, redisAddr string) *caddyProcess {
	t.Helper()
	dir := t.TempDir()
	port, admin := freePort(t), freePort(t)
	cf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	storage file_system %s
}

http://127.0.0.1:%d {
	picket_rate_limit {
		secret {env.PICKET_RATE_LIMIT_SECRET}
		redis {
			address %s
			timeout 5s
		}
		zone vote {
			match {
				path /ballots/*/vote
			}
			key {http.request.header.X-Test-Client}
			period 5m
			requests 10
			block 15m
			store redis
		}
	}
	respond "ok"
}
`, admin, filepath.Join(dir, "storage"), port, redisAddr)
	cfPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfPath, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir,
		"PICKET_RATE_LIMIT_SECRET=two-process-test-secret")
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})

	p := &caddyProcess{
		base:  fmt.Sprintf("http://127.0.0.1:%d", port),
		admin: fmt.Sprintf("http://127.0.0.1:%d", admin),
		cmd:   cmd,
	}
	// wait for the listener; this bounds a start-up, it asserts nothing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.base + "/")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not start:\n%s", readFile(t, logf.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTwoCaddyProcesses(t *testing.T) {
	srv := redistest.Start(t)
	bin := buildCaddy(t)
	a := startProcess(t, bin, srv.Addr())
	b := startProcess(t, bin, srv.Addr())
	const voter = "voter-1"

	for i := 0; i < 10; i++ {
		p := a
		if i%2 == 1 {
			p = b
		}
		if r := send(t, "POST", p.base+"/ballots/b1/vote", voter); r.status != 200 {
			t.Fatalf("vote %d: got %d, want 200", i+1, r.status)
		}
	}

	ra := send(t, "POST", a.base+"/ballots/b1/vote", voter)
	rb := send(t, "POST", b.base+"/ballots/b1/vote", voter)
	if ra.status != 429 || rb.status != 429 {
		t.Fatalf("eleventh vote: got %d and %d, want 429 on both", ra.status, rb.status)
	}
	secsA, _ := strconv.Atoi(ra.header.Get("Retry-After"))
	secsB, _ := strconv.Atoi(rb.header.Get("Retry-After"))
	if secsA < 1 || secsA > 900 || secsA != secsB {
		t.Fatalf("got Retry-After %d and %d, want equal, in 1..900", secsA, secsB)
	}

	// a block listed by one instance and lifted through the other.
	var list struct{ Blocks []blockEntry }
	body := send(t, "GET", b.admin+adminPrefix, "").body
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Blocks) != 1 {
		t.Fatalf("got %s, want one block", body)
	}
	req, _ := http.NewRequest(http.MethodDelete,
		a.admin+adminPrefix+"/vote/"+list.Blocks[0].Key, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unblock through the other instance: got %d, want 200", resp.StatusCode)
	}
	if r := send(t, "POST", b.base+"/ballots/b1/vote", voter); r.status != 200 {
		t.Fatalf("after the unblock: got %d, want 200", r.status)
	}
}
