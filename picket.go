// Package picket is the root of picket's Caddy plugin set: importing it
// registers every picket Caddy module. xcaddy.json names this package so that
// xcaddy can build picket's Caddy from a local checkout.
package picket

import (
	_ "github.com/picket-edge/picket/caddy-modules/all"
)
