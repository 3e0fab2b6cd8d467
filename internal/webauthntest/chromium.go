package webauthntest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Chromium is a headless Debian chromium driven over the DevTools protocol,
// with one page whose WebAuthn calls go to a virtual authenticator.
//
// Every request it makes stays on loopback: non-loopback hosts resolve to
// nothing and would go to a dead proxy on 127.0.0.1:9, and the browser's
// background services (updates, sync, safe browsing) are off.
type Chromium struct {
	cmd     *exec.Cmd
	ws      *websocket.Conn
	session string

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpReply
	done    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type cdpMessage struct {
	ID int64 `json:"id"`
	cdpReply
}

// StartChromium launches the browser and opens a page with a virtual
// platform authenticator (CTAP2, resident keys, user verification). It is
// stopped when the test ends. A missing binary fails the test unless -short.
//
// extraFlags are added to the command line, e.g.
// "--ignore-certificate-errors-spki-list=<base64 SHA-256 of the SPKI>" to
// trust a test CA (Chromium refuses WebAuthn on a page with a TLS error).
func StartChromium(t testing.TB, extraFlags ...string) *Chromium {
	t.Helper()
	if testing.Short() {
		t.Skip("webauthntest: browser test needs chromium; skipped under -short")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("webauthntest: chromium not found; install the Debian package chromium " +
			"(apt-get install -y chromium)")
	}

	c, err := launch(bin, t.TempDir(), extraFlags)
	if err != nil {
		t.Fatalf("webauthntest: %v", err)
	}
	t.Cleanup(c.close)
	if err := c.openPage(); err != nil {
		t.Fatalf("webauthntest: %v", err)
	}
	return c
}

func launch(bin, profile string, extraFlags []string) (*Chromium, error) {
	args := append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + profile, "--remote-debugging-port=0", "--remote-allow-origins=*",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-domain-reliability", "--no-pings",
		"--disable-client-side-phishing-detection", "--safebrowsing-disable-auto-update",
		"--dns-prefetch-disable", "--disable-features=OptimizationHints,MediaRouter",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
		"--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=localhost;127.0.0.1",
	}, extraFlags...)
	cmd := exec.Command(bin, append(args, "about:blank")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting chromium: %w", err)
	}

	wsURL, err := devtoolsURL(stderr)
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, err
	}
	ws, err := websocket.Dial(wsURL, "", "http://127.0.0.1/")
	if err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("connecting to devtools: %w", err)
	}
	c := &Chromium{cmd: cmd, ws: ws, waiting: map[int64]chan cdpReply{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// devtoolsURL reads the browser's stderr until it names its endpoint,
// then keeps draining it.
func devtoolsURL(stderr interface{ Read([]byte) (int, error) }) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				found <- strings.TrimSpace(u)
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			return "", errors.New("chromium exited before opening devtools")
		}
		return u, nil
	case <-time.After(60 * time.Second):
		return "", errors.New("chromium did not open devtools within 60s")
	}
}

func (c *Chromium) read() {
	defer close(c.done)
	for {
		var m cdpMessage
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			return
		}
		if m.ID == 0 {
			continue // an event; none is needed
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends one DevTools command (on the page's session unless browser)
// and decodes its result into out (if not nil).
func (c *Chromium) call(browser bool, method string, params, out any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpReply, 1)
	c.waiting[id] = ch
	c.mu.Unlock()

	msg := map[string]any{"id": id, "method": method, "params": params}
	if !browser {
		msg["sessionId"] = c.session
	}
	if params == nil {
		msg["params"] = map[string]any{}
	}
	if err := websocket.JSON.Send(c.ws, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}

	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%s: devtools connection closed", method)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no answer within 60s", method)
	}
}

func (c *Chromium) openPage() error {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(true, "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	err := c.call(true, "Target.attachToTarget",
		map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	if err != nil {
		return err
	}
	c.session = attached.SessionID

	steps := []struct {
		method string
		params any
	}{
		{"Page.enable", nil},
		{"Runtime.enable", nil},
		// pages under test may forbid scripts by CSP; the test's own script
		// still has to run
		{"Page.setBypassCSP", map[string]any{"enabled": true}},
		{"WebAuthn.enable", map[string]any{"enableUI": false}},
		{"WebAuthn.addVirtualAuthenticator", map[string]any{"options": map[string]any{
			"protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
			"hasResidentKey": true, "hasUserVerification": true, "isUserVerified": true,
			"automaticPresenceSimulation": true,
		}}},
	}
	for _, s := range steps {
		if err := c.call(false, s.method, s.params, nil); err != nil {
			return err
		}
	}
	return nil
}

// Navigate loads url and waits until its document is complete.
func (c *Chromium) Navigate(ctx context.Context, url string) error {
	if err := c.call(false, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		return err
	}
	for {
		var state string
		err := c.Eval(`location.href + " " + document.readyState`, &state)
		if err == nil && state == url+" complete" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loading %s: %w (last state %q)", url, ctx.Err(), state)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Eval runs a JavaScript expression in the page, awaits it if it is a
// promise, and decodes its JSON value into out.
func (c *Chromium) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := c.call(false, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("script threw: %s %s", res.Exception.Text, res.Exception.Exception.Description)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

func (c *Chromium) close() {
	_ = c.call(true, "Browser.close", nil, nil)
	_ = c.ws.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	// the browser's helpers share its process group
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
}
