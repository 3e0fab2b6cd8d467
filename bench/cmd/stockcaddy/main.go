// Command stockcaddy is Caddy v2.11.9 with its standard modules only: the
// "no extra modules" baseline of scripts/bench.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
