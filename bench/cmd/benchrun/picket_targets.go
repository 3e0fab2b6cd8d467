package main

import (
	"os"
	"path/filepath"
)

// picketTargets lists picket's own chains.
func picketTargets(o options) []target {
	repo, _ := os.Getwd()
	policy := filepath.Join(repo, "wasm", "examples", "blockscanners", "blockscanners.wasm")
	if o.repo != "" {
		policy = filepath.Join(o.repo, "wasm", "examples", "blockscanners", "blockscanners.wasm")
	}
	onion := target{
		name:  "onion",
		title: "(c) picket onion chain: circuit id, read-only, rate limit, WASM policy, hygiene (unix socket)",
		bin:   o.bins["picket"], config: onionCaddyfile(policy), file: "onion.caddyfile",
		args: func(p string) []string { return []string{"run", "--config", p, "--adapter", "caddyfile"} },
		unix: "onion.sock",
	}
	return []target{onion, {
		name:    "picket",
		profile: true,
		title:   "(b) picket clearnet chain: admission, client IP, origin pulls, rate limit, WASM policy, hygiene",
		bin:     o.bins["picket"], config: picketCaddyfile(policy), file: "picket.caddyfile",
		args: func(p string) []string { return []string{"run", "--config", p, "--adapter", "caddyfile"} },
	}}
}

// onionCaddyfile is the onion site's chain on a unix socket, without tor:
// the load generator plays tor's part and sends the PROXY line with a
// circuit id on every connection.
func onionCaddyfile(policy string) string {
	return `{
	admin off
	persist_config off
	order picket_wasm after picket_rate_limit
	storage file_system {{.Work}}/caddy-onion
	servers unix/{{.Work}}/onion.sock {
		listener_wrappers {
			picket_onion
		}
		protocols h1 h2c
	}
}

http:// {
	bind unix/{{.Work}}/onion.sock
	route {
		picket_onion_source {
			clearnet_url https://localhost
		}
		picket_client_ip {
			origin_key bench-gateway-key-0123456789abcdef0123
		}
		picket_rate_limit {
			secret bench-rate-limit-secret-0123456789abcdef
			zone onion_global {
				source onion
				period 1m
				requests 100000000
				block 10m
			}
		}
		picket_wasm * ` + policy + `
		reverse_proxy {{.Origin}} {
			header_up -X-Forwarded-For
			header_up X-Picket-Client {picket.origin_header}
			header_up X-Request-Id {http.request.uuid}
		}
	}
}
`
}

// picketCaddyfile is the production chain with limits set high enough never
// to trigger: the loopback peer stands for a Cloudflare edge.
func picketCaddyfile(policy string) string {
	return `{
	admin 127.0.0.1:{{.Admin}}
	auto_https off
	persist_config off
	order picket_wasm after picket_rate_limit
	storage file_system {{.Work}}/caddy-picket
	picket_cloudflare {
		static 127.0.0.0/8
	}
	servers {
		protocols h1 h2
		listener_wrappers {
			picket_admission
			tls
		}
		trusted_proxies picket_cloudflare
		client_ip_headers CF-Connecting-IP
	}
}

https://localhost:{{.Port}} {
	bind 127.0.0.1
	tls {{.ServerCert}} {{.ServerKey}} {
		protocols tls1.2 tls1.3
		client_auth {
			mode require_and_verify
			trust_pool picket_aop {
				pem_file {{.PullCA}}
			}
			verifier picket_aop
		}
	}
	picket_client_ip {
		origin_key bench-gateway-key-0123456789abcdef0123
	}
	picket_header_hygiene
	picket_rate_limit {
		secret bench-rate-limit-secret-0123456789abcdef
		zone global {
			period 1m
			requests 100000000
			block 10m
		}
	}
	picket_wasm * ` + policy + `
	reverse_proxy {{.Origin}} {
		header_up -X-Forwarded-For
		header_up X-Picket-Client {picket.origin_header}
		header_up X-Request-Id {http.request.uuid}
	}
}
`
}
