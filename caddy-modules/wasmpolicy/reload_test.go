package wasmpolicy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of TestReloadMemory, documented in docs/wasm.md.
const (
	rssBound  = 96 << 20 // growth of resident memory after warm-up
	heapBound = 16 << 20 // growth of the live Go heap after warm-up
)

// TestReloadMemory reloads Caddy's config again and again (same config,
// changed guest config, changed guest file) while serving requests through
// a Go guest, and checks that memory stays flat. The default run does 40
// reloads and 20,000 requests; PICKET_WASM_SOAK=1 runs the full 200 reloads
// and 100,000 requests.
func TestReloadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped under -short")
	}
	reloads, perReload := 40, 500
	if os.Getenv("PICKET_WASM_SOAK") == "1" {
		reloads = 200
	}
	dir := t.TempDir()
	guests := []string{filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm")}
	copyFile(t, filepath.Join("..", "..", "wasm", "examples", "blockscanners", "blockscanners.wasm"), guests[0])
	copyFile(t, filepath.Join("..", "..", "wasm", "examples", "apipaths", "apipaths.wasm"), guests[1])

	addr := freePort(t)
	logFile := filepath.Join(dir, "caddy.log")
	stopCaddy(t)
	client := h1Client()
	config := func(i int) []byte {
		// every third reload is unchanged, every third changes the guest
		// config, every third swaps the guest file
		guest := guests[(i/3)%2]
		cfg := "/unions /me"
		if i%3 == 1 {
			cfg = "/unions /me /x" + strconv.Itoa(i%7)
		}
		// a generous deadline: this test is about memory, and a shared
		// machine under load can stall a 50 ms call
		policy := map[string]any{"path": guest, "config": cfg, "timeout": "1s"}
		return caddyConfigLog(t, addr, policy, "", logFile)
	}
	cycle := func(i int) {
		loadCaddy(t, config(i))
		// the old server closes its keep-alive connections while it
		// stops; a request racing that gets EOF, which is Caddy's reload
		// behaviour and not what this test measures
		client.CloseIdleConnections()
		settle(t, client, addr)
		for j := range perReload {
			req, _ := http.NewRequest("GET", "http://"+addr+"/unions/"+strconv.Itoa(j), nil)
			req.Header.Set("User-Agent", "Mozilla/5.0")
			if status, body := do(t, client, req); status != 200 || body != "next" {
				logs, _ := os.ReadFile(logFile)
				t.Fatalf("reload %d request %d: got %d %q, want 200 \"next\"; log:\n%s",
					i, j, status, body, logs)
			}
		}
	}

	// warm up: both guests compiled, pools and Caddy's own caches filled
	for i := range 6 {
		cycle(i)
	}
	rss0, heap0 := memory()
	for i := 6; i < reloads+6; i++ {
		cycle(i)
	}
	rss1, heap1 := memory()
	t.Logf("%d reloads, %d requests: RSS %d -> %d MiB, heap %d -> %d MiB",
		reloads, reloads*perReload, rss0>>20, rss1>>20, heap0>>20, heap1>>20)
	if rss1 > rss0+rssBound {
		t.Errorf("got RSS growth %d MiB, want at most %d MiB", (rss1-rss0)>>20, rssBound>>20)
	}
	if heap1 > heap0+heapBound {
		t.Errorf("got heap growth %d MiB, want at most %d MiB", (heap1-heap0)>>20, heapBound>>20)
	}
}

// settle waits until the reloaded server accepts a request. A connection
// that lands in the old listener's queue while Caddy swaps listeners is
// reset (Caddy binds the new listener before closing the old one); that is
// reload behaviour, not what the memory test measures.
func settle(t *testing.T, client *http.Client, addr string) {
	t.Helper()
	var err error
	for range 50 {
		var resp *http.Response
		resp, err = client.Get("http://" + addr + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		client.CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server not answering after reload: %v", err)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}

// memory returns the process's resident set and live heap after a GC.
func memory() (rss, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/status")
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return rss, ms.HeapAlloc
}
