// Command caddybin is Caddy with the standard modules and picket_rate_limit,
// built by TestTwoCaddyProcesses to run two real gateway processes.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/picket-edge/picket/caddy-modules/ratelimit"
)

func main() {
	caddycmd.Main()
}
