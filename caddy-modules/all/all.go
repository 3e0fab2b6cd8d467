// Package all imports every picket Caddy module, so that one line in
// xcaddy.json or a main package brings the whole set.
package all

import (
	_ "github.com/picket-edge/picket/caddy-modules/hygiene"
	_ "github.com/picket-edge/picket/caddy-modules/lockdown"
	_ "github.com/picket-edge/picket/caddy-modules/onion"
	_ "github.com/picket-edge/picket/caddy-modules/ratelimit"
	_ "github.com/picket-edge/picket/caddy-modules/wasmpolicy"
)
