package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/picket-edge/picket/internal/redistest"
)

// repoRoot is the checkout the tests run in.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary returns the path of a picket binary: the one named by envVar (set
// by scripts/test to what scripts/build made with xcaddy), or one built here
// with go build from pkg.
func binary(t *testing.T, envVar, name, pkg string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "picket-e2e-bin-")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out := filepath.Join(buildDir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	t.Logf("building %s (set %s to skip)", pkg, envVar)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a child started by a test and stopped when it ends.
type process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
}

func startProcess(t *testing.T, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{output: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// edge is picket's Caddy running the repository's Caddyfile, reachable the
// way production is: through the Cloudflare stand-in, or directly from the
// stand-in's edge address (127.0.0.2) with its origin-pull certificate.
type edge struct {
	*process
	standin *process
	// base is the stand-in's URL; requests there go through "Cloudflare".
	base string
	// direct is the edge's own URL; client dials it from 127.0.0.2 with the
	// origin-pull certificate, like a Cloudflare edge server.
	direct string
	client *http.Client
	roots  *x509.CertPool
	pull   tls.Certificate
}

// edgeSource is the loopback address the development configuration lists as
// Cloudflare's edge.
const edgeSource = "127.0.0.2"

// startEdge runs the custom Caddy with the repository's Caddyfile, pointed at
// origin, on a free loopback port, with its storage in a temporary folder,
// and the Cloudflare stand-in in front of it.
func startEdge(t *testing.T, origin string, extraEnv ...string) *edge {
	t.Helper()
	return startEdgeAt(t, origin, 0, extraEnv...)
}

// startEdgeAt is startEdge with the stand-in on standinPort (0: a free one),
// for a test that must name the stand-in's address before the edge runs.
func startEdgeAt(t *testing.T, origin string, standinPort int, extraEnv ...string) *edge {
	t.Helper()
	bin := binary(t, "PICKET_CADDY_BIN", "caddy", "./cmd/caddy")
	standinBin := binary(t, "PICKET_CFSTANDIN_BIN", "cfstandin", "./cmd/cfstandin")
	storage := t.TempDir()
	pullDir := filepath.Join(storage, "cfstandin")
	initPull := startProcess(t, nil, standinBin, "-init", "-dir", pullDir)
	<-initPull.done
	if code := initPull.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("cfstandin -init: exit %d\n%s", code, initPull.output.String())
	}

	redis := redistest.Start(t)
	port := freePort(t)
	env := append([]string{
		"PICKET_REDIS_ADDR=" + redis.Addr(),
		"PICKET_RATE_LIMIT_SECRET=e2e-rate-limit-secret-0123456789abcdef",
		"PICKET_HTTPS_PORT=" + strconv.Itoa(port),
		"PICKET_ADMIN_ADDR=unix/" + filepath.Join(storage, "admin.sock") + "|0600",
		"PICKET_CADDY_STORAGE=" + storage,
		"PICKET_ORIGIN=" + origin,
		"PICKET_AOP_CA=" + filepath.Join(pullDir, "ca.pem"),
		"PICKET_CF_RANGES=static " + edgeSource + "/32",
		"PICKET_GATEWAY_KEY=" + testGatewayKey,
		"HOME=" + storage,
	}, extraEnv...)
	p := startProcess(t, env, bin, "run", "--config", "Caddyfile", "--adapter", "caddyfile")
	e := &edge{process: p, direct: fmt.Sprintf("https://localhost:%d", port)}

	root := filepath.Join(storage, "pki", "authorities", "local", "root.crt")
	waitFor(t, p, "the edge's local CA", func() bool {
		_, err := os.Stat(root)
		return err == nil
	})
	pem, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	e.roots = x509.NewCertPool()
	e.roots.AppendCertsFromPEM(pem)
	e.pull, err = tls.LoadX509KeyPair(filepath.Join(pullDir, "client.pem"), filepath.Join(pullDir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e.client = e.newClient(true)
	waitFor(t, p, "the edge to serve TLS", func() bool {
		conn, err := e.dialTLS(fmt.Sprintf("127.0.0.1:%d", port), e.tlsConfig(0))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})

	sport := standinPort
	if sport == 0 {
		sport = freePort(t)
	}
	e.standin = startProcess(t, nil, standinBin, "-dir", pullDir,
		"-listen", fmt.Sprintf("127.0.0.1:%d", sport),
		"-upstream", fmt.Sprintf("https://127.0.0.1:%d", port), "-origin-ca", root)
	e.base = fmt.Sprintf("http://127.0.0.1:%d", sport)
	waitFor(t, e.standin, "the stand-in to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sport))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return e
}

// testGatewayKey is the key the edge and origin share in these tests.
const testGatewayKey = "e2e-test-gateway-key-0123456789abcdef"

// tlsConfig is what a Cloudflare edge server would offer: the origin-pull
// certificate, the edge's CA trusted, and at most version maxVersion (0: any).
func (e *edge) tlsConfig(maxVersion uint16) *tls.Config {
	return &tls.Config{
		RootCAs: e.roots, ServerName: "localhost", Certificates: []tls.Certificate{e.pull},
		MinVersion: tls.VersionTLS10, MaxVersion: maxVersion,
	}
}

// dialTLS connects from the edge source address.
func (e *edge) dialTLS(addr string, conf *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(edgeSource)}, Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, conf)
}

// newClient makes a client that connects to the edge directly from the edge
// source address with the origin-pull certificate.
func (e *edge) newClient(h2 bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(edgeSource)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:       d.DialContext,
		TLSClientConfig:   e.tlsConfig(0),
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

// waitFor polls cond until it holds, the process exits or a minute passes.
func waitFor(t *testing.T, p *process, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond() {
		if p != nil && p.exited() {
			t.Fatalf("process exited while waiting for %s:\n%s", what, p.output.String())
		}
		select {
		case <-ctx.Done():
			out := ""
			if p != nil {
				out = p.output.String()
			}
			t.Fatalf("timed out waiting for %s:\n%s", what, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func timeNowPlus() time.Time { return time.Now().Add(300 * time.Millisecond) }

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
