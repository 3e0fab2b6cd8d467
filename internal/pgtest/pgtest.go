// Package pgtest starts throwaway PostgreSQL clusters for integration tests.
//
// Each cluster is a fresh initdb in its own temporary directory, listening on
// a free 127.0.0.1 port and on a unix socket inside that directory. The
// superuser "postgres" connects without a password (trust, loopback and socket
// only); every other role must use its password (scram-sha-256), so tests of
// least-privilege roles exercise real authentication.
//
// PostgreSQL refuses to run as root. When the test process is root, the
// cluster runs as the unprivileged system user "nobody" (always present on
// Debian); its directory is created outside t.TempDir (whose parents are
// root-only) and chowned to that user. Under any other user the cluster runs
// as that user.
//
// The server binaries are found with pg_config --bindir, then
// /usr/lib/postgresql/<n>/bin, then PATH. A missing binary fails the test
// (not skip) unless -short is set.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the trusted superuser of every test cluster.
const Superuser = "postgres"

// startTimeout bounds how long Start waits for the server to accept
// connections; it is a safety net, not a measurement.
const startTimeout = 60 * time.Second

// Cluster is one running (or stopped) PostgreSQL server.
type Cluster struct {
	t       testing.TB
	bindir  string
	dir     string // owned by the server user; holds data/, the socket and the log
	port    int
	cred    *syscall.Credential
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Start initialises and starts a new cluster; it is stopped and removed when
// the test ends. Under -short it skips the test.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: integration test needs PostgreSQL; skipped under -short")
	}

	c, err := start()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	c.t = t
	t.Cleanup(c.remove)
	return c
}

func start() (*Cluster, error) {
	bindir, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "picket-pg-")
	if err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	c := &Cluster{bindir: bindir, dir: dir, cred: cred}
	if err := c.init(); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.startServer(); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// BinDir finds the PostgreSQL server binaries (initdb, postgres).
func BinDir() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(versions)))
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("postgres"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}

	for _, d := range candidates {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found; " +
		"install the Debian package postgresql-15 (apt-get install -y postgresql-15)")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// serverCredential returns the user the server runs as: nil (ourselves)
// unless we are root, in which case "nobody".
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the user nobody to run postgres: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("parsing the ids of user nobody: %q %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bindir, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
	}
	return cmd
}

func (c *Cluster) init() error {
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("handing the cluster directory to nobody: %w", err)
		}
	}
	// the directory must be reachable by the server user; MkdirTemp made it 0700
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return err
	}

	cmd := c.command("initdb", "-D", c.dataDir(), "-U", Superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// the superuser is trusted; every other role authenticates with its password
	hba := strings.Join([]string{
		"local all " + Superuser + " trust",
		"host  all " + Superuser + " 127.0.0.1/32 trust",
		"local all all scram-sha-256",
		"host  all all 127.0.0.1/32 scram-sha-256",
		"",
	}, "\n")
	return c.writeOwned(filepath.Join(c.dataDir(), "pg_hba.conf"), hba)
}

func (c *Cluster) writeOwned(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// startServer starts postgres on a free port (the same port again after a
// Stop) and waits until it accepts connections.
func (c *Cluster) startServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()

	var lastErr error
	for range 3 {
		if c.port == 0 || lastErr != nil {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.port = p
		}
		if lastErr = c.launch(); lastErr == nil {
			c.stopped = false
			return nil
		}
	}
	return lastErr
}

func (c *Cluster) launch() error {
	logf, err := os.OpenFile(filepath.Join(c.dir, "server.log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()

	cmd := c.command("postgres", "-D", c.dataDir(),
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=60", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited

	if err := c.waitReady(exited); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		return fmt.Errorf("%w\n%s", err, c.serverLog())
	}
	return nil
}

// waitReady polls until the superuser can connect. Polling a starting server
// is the one place a loop with a short pause is needed.
func (c *Cluster) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return errors.New("postgres exited during start")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %v: %w", startTimeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *Cluster) serverLog() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// SocketDir is the directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.dir }

// URL is a superuser connection URL for database db over TCP loopback.
func (c *Cluster) URL(db string) string {
	return c.RoleURL(Superuser, "", db)
}

// RoleURL is a connection URL over TCP loopback for role with password.
func (c *Cluster) RoleURL(role, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if password != "" {
		u.User = url.UserPassword(role, password)
	} else {
		u.User = url.User(role)
	}
	return u.String()
}

// Stop shuts the server down (fast mode) so that tests can see a database go
// away; Restart brings it back on the same port with the same data.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.stop(syscall.SIGINT); err != nil {
		c.t.Fatalf("pgtest: stopping postgres: %v", err)
	}
}

// Restart starts a stopped cluster again.
func (c *Cluster) Restart() {
	c.t.Helper()
	if err := c.startServer(); err != nil {
		c.t.Fatalf("pgtest: restarting postgres: %v", err)
	}
}

func (c *Cluster) stop(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.stopped {
		return nil
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(startTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.stopped = true
	return nil
}

func (c *Cluster) remove() {
	_ = c.stop(syscall.SIGQUIT)
	_ = os.RemoveAll(c.dir)
}

// Exec runs SQL statements as the superuser in database db.
func (c *Cluster) Exec(db string, sql ...string) {
	c.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		c.t.Fatalf("pgtest: connecting to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			c.t.Fatalf("pgtest: %s: %v", s, err)
		}
	}
}
