// Command caddy is picket's Caddy with its modules, built by plain "go build".
// It is the same program that scripts/build makes with xcaddy from
// xcaddy.json; tests use this path so that they need no xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/picket-edge/picket"
)

func main() {
	caddycmd.Main()
}
