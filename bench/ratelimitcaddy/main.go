// Command ratelimitcaddy is stock Caddy v2.11.9 with
// github.com/mholt/caddy-ratelimit: what an operator would assemble instead
// of picket, target (e) of scripts/bench. It is its own module so that
// picket's go.mod never depends on the plugin.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/mholt/caddy-ratelimit"
)

func main() {
	caddycmd.Main()
}
