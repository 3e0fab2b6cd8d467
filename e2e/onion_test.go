package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// onionRequest sends one HTTP/1.1 request on the onion socket the way tor
// delivers a stream: the PROXY line with the circuit first.
func onionRequest(t *testing.T, socket string, circuit uint32, method, path string, hdr map[string]string) (*http.Response, echoed) {
	t.Helper()
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "PROXY TCP6 fc00:dead:beef:4dad::%x:%x ::1 65535 80\r\n", circuit>>16, circuit&0xffff)
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: example.onion\r\nConnection: close\r\n", method, path)
	for k, v := range hdr {
		fmt.Fprintf(conn, "%s: %s\r\n", k, v)
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var got echoed
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
	}
	return resp, got
}

// TestOnionSite runs the repository's Caddyfile with the onion mirror on:
// a real tor with its network disabled publishes nothing, and the test plays
// tor's part on the service socket.
func TestOnionSite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tor and the custom Caddy binary")
	}
	if _, err := exec.LookPath("tor"); err != nil {
		t.Fatal("tor not found: install the Debian package tor")
	}
	origin := echoOrigin(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "onion.sock")
	e := startEdge(t, strings.TrimPrefix(origin.URL, "http://"),
		"PICKET_ONION=on",
		"PICKET_ONION_SOCKET="+socket,
		"PICKET_ONION_DATA_DIR="+filepath.Join(dir, "tor"),
	)
	waitFor(t, e.process, "the onion socket", func() bool {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	t.Run("GET reaches the origin as onion", func(t *testing.T) {
		resp, got := onionRequest(t, socket, 7, http.MethodGet, "/health", map[string]string{
			"X-Forwarded-For":  "198.51.100.7",
			"CF-Connecting-IP": "203.0.113.10",
		})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status: got %d, want 200", resp.StatusCode)
		}
		if !got.Verified || got.Source != "onion" || got.ClientIP != "" {
			t.Errorf("gateway header: got %+v, want verified onion without an IP", got)
		}
		for _, h := range []string{"X-Forwarded-For", "Cf-Connecting-Ip"} {
			if v := got.Headers.Values(h); len(v) > 0 {
				t.Errorf("origin received %s: %q", h, v)
			}
		}
		if v := resp.Header.Get("Onion-Location"); v != "" {
			t.Errorf("Onion-Location on the onion itself: %q", v)
		}
	})

	t.Run("POST is refused read-only", func(t *testing.T) {
		resp, _ := onionRequest(t, socket, 8, http.MethodPost, "/unions", map[string]string{
			"Content-Length": "0",
		})
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			t.Fatalf("got %d with Allow %q, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})

	t.Run("clearnet still works", func(t *testing.T) {
		if r := e.get(t, "/health", ""); r.status != http.StatusOK {
			t.Fatalf("clearnet health: got %d", r.status)
		}
	})
}
