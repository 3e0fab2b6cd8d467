package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/picket-edge/picket/bench/internal/load"
)

// target is one gateway set-up under test.
type target struct {
	name   string
	title  string
	bin    string
	config string // text/template, executed with configData
	file   string // config file name
	args   func(configPath string) []string
	load   load.Config
	port   int
	unix   string // socket file name under the work folder, for unix targets
	// profile asks for a CPU profile of the last run through the admin API
	profile bool
	admin   int
}

type configData struct {
	Admin  int
	Port   int
	Origin string
	Work   string
	pki
}

// targets lists every set-up; the picket ones are in picket_targets.go.
func targets(o options, certs pki, origin string) []target {
	port := 18443
	next := func() int { port++; return port }
	serverTLS := func() *tls.Config {
		c, err := load.TLSConfig(certs.ServerCA, certs.PullCert, certs.PullKey, "localhost")
		if err != nil {
			panic("BUG: certificates just written do not load: " + err.Error())
		}
		return c
	}
	caddyArgs := func(p string) []string { return []string{"run", "--config", p, "--adapter", "caddyfile"} }
	cf := http.Header{"Cf-Connecting-Ip": {"203.0.113.7"}}

	ts := []target{
		{
			name: "stock", title: "(a) stock Caddy reverse_proxy, no extra modules",
			bin: o.bins["stock"], config: stockCaddyfile, file: "stock.caddyfile", args: caddyArgs,
		},
		{
			name: "nginx", title: "(d) nginx, classic Cloudflare lock-down recipe",
			bin: o.bins["nginx"], config: nginxConf, file: "nginx.conf",
			args: func(p string) []string { return []string{"-c", p, "-e", "stderr"} },
		},
		{
			name: "ratelimit", title: "(e) Caddy + mholt/caddy-ratelimit v0.1.0, same limits and mTLS",
			bin: o.bins["ratelimit"], config: ratelimitCaddyfile, file: "ratelimit.caddyfile", args: caddyArgs,
		},
	}
	ts = append(ts, picketTargets(o)...)
	for i := range ts {
		ts[i].port = next()
		ts[i].admin = ts[i].port + 1000
		ts[i].load = load.Config{
			URL: fmt.Sprintf("https://localhost:%d/unions/example", ts[i].port), Header: cf, TLS: serverTLS(),
		}
		if ts[i].unix != "" {
			sock := filepath.Join(o.work, ts[i].unix)
			ts[i].load = load.Config{
				URL: "http://onion.invalid/unions/example", Unix: sock, Preamble: proxyLine,
			}
		}
		tmpl := template.Must(template.New(ts[i].name).Parse(ts[i].config))
		var b strings.Builder
		if err := tmpl.Execute(&b, configData{Port: ts[i].port, Admin: ts[i].admin, Origin: origin, Work: o.work, pki: certs}); err != nil {
			panic("BUG: template " + ts[i].name + ": " + err.Error())
		}
		ts[i].config = b.String()
	}
	return ts
}

// running is a started gateway.
type running struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *running) pid() int { return r.cmd.Process.Pid }

func (r *running) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (t target) start(o options) (*running, error) {
	path := filepath.Join(o.work, t.file)
	if err := os.WriteFile(path, []byte(t.config), 0o600); err != nil {
		return nil, err
	}
	argv := append([]string{t.bin}, t.args(path)...)
	if o.pin != "" {
		argv = append([]string{"taskset", "-c", o.pin}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.work
	logf, err := os.Create(filepath.Join(o.work, t.name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+o.work, "XDG_DATA_HOME="+o.work, "XDG_CONFIG_HOME="+o.work)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	network, addr := "tcp", fmt.Sprintf("127.0.0.1:%d", t.port)
	if t.unix != "" {
		network, addr = "unix", filepath.Join(o.work, t.unix)
	}
	for {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("exited before listening; see %s", logf.Name())
		case <-ctx.Done():
			r.stop()
			return nil, fmt.Errorf("not listening on %s after 30s; see %s", addr, logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// proxyLine is what tor writes first on each stream of an onion service
// that exports circuit ids: here one circuit per connection.
func proxyLine(n int) string {
	return fmt.Sprintf("PROXY TCP6 fc00:dead:beef:4dad::%x:%x ::1 65535 80\r\n", n>>16, n&0xffff)
}

const stockCaddyfile = `{
	admin off
	auto_https off
	persist_config off
	storage file_system {{.Work}}/caddy-stock
	servers {
		protocols h1 h2
	}
}

https://localhost:{{.Port}} {
	bind 127.0.0.1
	tls {{.ServerCert}} {{.ServerKey}}
	reverse_proxy {{.Origin}}
}
`

// the classic recipe, done right: the geo check on the real peer
// ($realip_remote_addr), the client address only from CF-Connecting-IP of a
// listed peer, a request limit keyed by it, and client certificates verified
// against the origin-pull CA.
const nginxConf = `daemon off;
worker_processes 1;
pid {{.Work}}/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path {{.Work}}/nginx-body;
	proxy_temp_path {{.Work}}/nginx-proxy;
	fastcgi_temp_path {{.Work}}/nginx-fastcgi;
	uwsgi_temp_path {{.Work}}/nginx-uwsgi;
	scgi_temp_path {{.Work}}/nginx-scgi;
	server_tokens off;

	geo $realip_remote_addr $from_cloudflare {
		default 0;
		127.0.0.0/8 1;
		173.245.48.0/20 1;
		103.21.244.0/22 1;
		104.16.0.0/13 1;
		2400:cb00::/32 1;
		2606:4700::/32 1;
	}
	set_real_ip_from 127.0.0.0/8;
	set_real_ip_from 173.245.48.0/20;
	set_real_ip_from 103.21.244.0/22;
	set_real_ip_from 104.16.0.0/13;
	set_real_ip_from 2400:cb00::/32;
	set_real_ip_from 2606:4700::/32;
	real_ip_header CF-Connecting-IP;

	limit_req_zone $binary_remote_addr zone=global:10m rate=100000r/s;

	upstream origin {
		server {{.Origin}};
		keepalive 64;
	}
	server {
		listen 127.0.0.1:{{.Port}} ssl http2;
		ssl_certificate {{.ServerCert}};
		ssl_certificate_key {{.ServerKey}};
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_client_certificate {{.PullCA}};
		ssl_verify_client on;

		if ($from_cloudflare = 0) { return 403; }
		location / {
			limit_req zone=global burst=100000 nodelay;
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For "";
			proxy_set_header X-Real-IP "";
			proxy_set_header CF-Connecting-IP "";
			proxy_set_header True-Client-IP "";
		}
	}
}
`

const ratelimitCaddyfile = `{
	admin off
	auto_https off
	persist_config off
	storage file_system {{.Work}}/caddy-ratelimit
	order rate_limit before reverse_proxy
	servers {
		protocols h1 h2
		trusted_proxies static 127.0.0.0/8 173.245.48.0/20 103.21.244.0/22 104.16.0.0/13 2400:cb00::/32 2606:4700::/32
		client_ip_headers CF-Connecting-IP
	}
}

https://localhost:{{.Port}} {
	bind 127.0.0.1
	tls {{.ServerCert}} {{.ServerKey}} {
		client_auth {
			mode require_and_verify
			trust_pool file {{.PullCA}}
		}
	}
	@outside not remote_ip 127.0.0.0/8 173.245.48.0/20 103.21.244.0/22 104.16.0.0/13 2400:cb00::/32 2606:4700::/32
	abort @outside
	request_header -X-Forwarded-For
	request_header -CF-Connecting-IP
	rate_limit {
		zone global {
			key {client_ip}
			events 100000000
			window 1m
		}
	}
	reverse_proxy {{.Origin}} {
		header_up -X-Forwarded-For
	}
}
`
