package onion

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	onionsvc "github.com/picket-edge/picket/onion"
)

func BenchmarkReadOnlyDecision(b *testing.B) {
	cases := []struct {
		name string
		req  *http.Request
	}{
		{name: "GET passes", req: httptest.NewRequest("GET", "/unions/1?page=2", nil)},
		{name: "POST refused", req: httptest.NewRequest("POST", "/ballots", nil)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				refuseWrite(w, c.req, "")
			}
		})
	}
}

func BenchmarkReadCircuitHeader(b *testing.B) {
	const line = "PROXY TCP6 fc00:dead:beef:4dad::aabb:ccdd ::1 65535 80\r\nGET / HTTP/1.1\r\n"
	r := strings.NewReader(line)
	br := bufio.NewReader(r)
	for b.Loop() {
		r.Reset(line)
		br.Reset(r)
		if _, err := onionsvc.ReadCircuitHeader(br); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnionGET measures a GET through Caddy on the onion socket with
// the source handler, over one HTTP/2 connection.
func BenchmarkOnionGET(b *testing.B) {
	sock := filepath.Join(shortDir(b), "onion.sock")
	loadCaddy(b, map[string]any{"apps": map[string]any{"http": map[string]any{
		"servers": map[string]any{"onion": onionServer(sock, []any{echoRoute()})},
	}}}, filepath.Join(b.TempDir(), "caddy.log"))
	client := onionClient(sock, 5, true)
	for b.Loop() {
		resp, err := client.Get("http://x.onion/")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("got %d", resp.StatusCode)
		}
	}
}
