// Package tornet starts a private Tor network on loopback, for tests only: a few
// directory authorities (keys made with tor-gencert) and relays with
// TestingTorNetwork, and a client with a SOCKS port. Every torrc it writes
// names only 127.0.0.1 authorities, so nothing ever reaches the public Tor
// network.
package tornet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Network is a running private Tor network.
type Network struct {
	// DirAuthorities are the DirAuthority values of the network.
	DirAuthorities []string

	// SocksAddr is the client's SOCKS port ("127.0.0.1:port").
	SocksAddr string

	dir   string
	mu    sync.Mutex
	procs []*exec.Cmd
}

// node is one tor process of the network.
type node struct {
	name    string
	dir     string
	orPort  int
	dirPort int
	auth    bool
	v3ident string
	fp      string
}

// Start brings up authorities and relays, and a client that has
// bootstrapped, or fails t. The network stops when the test ends.
func Start(t testing.TB, authorities, relays int) *Network {
	t.Helper()
	torPath := need(t, "tor")
	gencert := need(t, "tor-gencert")
	dir, err := os.MkdirTemp("", "tornet")
	if err != nil {
		t.Fatal(err)
	}
	n := &Network{dir: dir}
	t.Cleanup(func() {
		n.stop()
		os.RemoveAll(dir)
	})

	var nodes []*node
	for i := 0; i < authorities+relays; i++ {
		nd := &node{dir: filepath.Join(dir, fmt.Sprintf("n%d", i)), auth: i < authorities,
			orPort: freePort(t), dirPort: freePort(t)}
		nd.name = fmt.Sprintf("relay%d", i)
		if nd.auth {
			nd.name = fmt.Sprintf("auth%d", i)
		}
		if err := os.MkdirAll(filepath.Join(nd.dir, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		if nd.auth {
			if nd.v3ident, err = makeAuthorityKeys(gencert, nd); err != nil {
				t.Fatal(err)
			}
		}
		if nd.fp, err = fingerprint(torPath, nd); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		if nd.auth {
			n.DirAuthorities = append(n.DirAuthorities, fmt.Sprintf(
				"%s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
				nd.name, nd.orPort, nd.v3ident, nd.dirPort, nd.fp))
		}
	}
	for _, nd := range nodes {
		if err := n.run(torPath, nd.dir, n.relayTorrc(nd)); err != nil {
			t.Fatal(err)
		}
	}

	client := filepath.Join(dir, "client")
	if err := os.MkdirAll(client, 0o700); err != nil {
		t.Fatal(err)
	}
	n.SocksAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := n.run(torPath, client, n.baseTorrc(client)+"SocksPort "+n.SocksAddr+" IsolateSOCKSAuth\n"); err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitClient waits until the client tor reports full bootstrap.
func (n *Network) WaitClient(ctx context.Context) error {
	log := filepath.Join(n.dir, "client", "notice.log")
	for {
		b, _ := os.ReadFile(log)
		if bytes.Contains(b, []byte("Bootstrapped 100%")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("client did not bootstrap: %w; last log lines:\n%s", ctx.Err(), tail(b, 8))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// baseTorrc holds the lines every node shares: a test network whose only
// authorities are the loopback ones above.
func (n *Network) baseTorrc(dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "TestingTorNetwork 1\nDataDirectory %s\nLog notice stdout\n", dataDir)
	b.WriteString("SafeLogging 0\nShutdownWaitLength 0\nAssumeReachable 1\n")
	b.WriteString("__OwningControllerProcess " + fmt.Sprint(os.Getpid()) + "\n")
	for _, a := range n.DirAuthorities {
		b.WriteString("DirAuthority " + a + "\n")
	}
	return b.String()
}

func (n *Network) relayTorrc(nd *node) string {
	var b strings.Builder
	b.WriteString(n.baseTorrc(nd.dir))
	fmt.Fprintf(&b, "Nickname %s\nSocksPort 0\nAddress 127.0.0.1\nORPort 127.0.0.1:%d\n"+
		"DirPort 127.0.0.1:%d\nExitPolicy reject *:*\nContactInfo %s@test.invalid\n",
		nd.name, nd.orPort, nd.dirPort, nd.name)
	if nd.auth {
		b.WriteString("AuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\n" +
			"TestingV3AuthInitialVotingInterval 10\nTestingV3AuthInitialVoteDelay 2\n" +
			"TestingV3AuthInitialDistDelay 2\nV3AuthVotingInterval 10\nV3AuthVoteDelay 2\n" +
			"V3AuthDistDelay 2\nTestingDirAuthVoteGuard *\nTestingDirAuthVoteHSDir *\n" +
			"TestingDirAuthVoteExit *\nTestingMinExitFlagThreshold 0\n" +
			"V3AuthNIntervalsValid 2\nAuthDirMaxServersPerAddr 0\n")
	}
	return b.String()
}

// run checks that torrc names no non-loopback address, writes it and starts
// tor.
func (n *Network) run(torPath, dataDir, torrc string) error {
	if err := CheckLoopbackOnly(torrc); err != nil {
		return err
	}
	path := filepath.Join(dataDir, "torrc")
	if err := os.WriteFile(path, []byte(torrc), 0o600); err != nil {
		return err
	}
	empty := filepath.Join(dataDir, "empty-torrc")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(torPath, "-f", path, "--defaults-torrc", empty)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(dataDir, "notice.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	n.mu.Lock()
	n.procs = append(n.procs, cmd)
	n.mu.Unlock()
	return nil
}

func (n *Network) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	n.procs = nil
}

// CheckLoopbackOnly fails unless the torrc sets TestingTorNetwork and every
// DirAuthority in it points at loopback.
func CheckLoopbackOnly(torrc string) error {
	if !strings.Contains(torrc, "TestingTorNetwork 1\n") {
		return errors.New("torrc lacks TestingTorNetwork 1")
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(torrc))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.EqualFold(f[0], "DirAuthority") {
			continue
		}
		found = true
		for _, w := range f[1:] {
			host, _, err := net.SplitHostPort(strings.TrimPrefix(w, "ipv6="))
			if err != nil {
				continue
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("DirAuthority address %s is not loopback", host)
			}
		}
	}
	if !found {
		return errors.New("torrc has no DirAuthority lines; tor would use the public authorities")
	}
	return nil
}

// makeAuthorityKeys creates the authority's v3 keys and returns its v3
// identity fingerprint.
func makeAuthorityKeys(gencert string, nd *node) (string, error) {
	keys := filepath.Join(nd.dir, "keys")
	cmd := exec.Command(gencert, "--create-identity-key", "-m", "12",
		"-a", fmt.Sprintf("127.0.0.1:%d", nd.dirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", filepath.Join(keys, "authority_certificate"),
		"--passphrase-fd", "0")
	cmd.Stdin = strings.NewReader("\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tor-gencert: %v: %s", err, out)
	}
	cert, err := os.ReadFile(filepath.Join(keys, "authority_certificate"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(cert), "\n") {
		if fp, ok := strings.CutPrefix(line, "fingerprint "); ok {
			return strings.TrimSpace(fp), nil
		}
	}
	return "", errors.New("no fingerprint in authority certificate")
}

// fingerprint makes the relay identity key and returns its fingerprint.
func fingerprint(torPath string, nd *node) (string, error) {
	empty := filepath.Join(nd.dir, "empty-torrc")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command(torPath, "--list-fingerprint", "--DataDirectory", nd.dir,
		"--ORPort", fmt.Sprint(nd.orPort), "--Nickname", nd.name,
		"--DisableNetwork", "1", "--defaults-torrc", empty, "-f", empty)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tor --list-fingerprint: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(nd.dir, "fingerprint"))
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return "", fmt.Errorf("unexpected fingerprint file %q", b)
	}
	return f[1], nil
}

func need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found on PATH: apt-get install -y tor", bin)
	}
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Logs returns the last lines of every node's notice log, for failure
// messages.
func (n *Network) Logs(lines int) string {
	var b strings.Builder
	dirs, _ := filepath.Glob(filepath.Join(n.dir, "*", "notice.log"))
	for _, d := range dirs {
		raw, _ := os.ReadFile(d)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(filepath.Dir(d)), tail(raw, lines))
	}
	return b.String()
}
