//go:build wasip1

// Command apipaths is a picket WASM policy that lets through only the API's
// own path prefixes and answers 404 for everything else, so that scans of
// /wp-admin, /.env and the like never reach the origin.
//
// The prefixes come from the guest config, one per line or separated by
// spaces; with no config the built-in list below applies.
package main

import (
	"strings"

	"github.com/picket-edge/picket/wasm/guest"
)

// defaultPrefixes are the API's path prefixes: sign-in, unions, ballots,
// the member's own data, health, the privacy notice and the public read
// views.
var defaultPrefixes = []string{
	"/auth", "/unions", "/ballots", "/me", "/health", "/privacy", "/public",
}

var prefixes = defaultPrefixes

func init() {
	if cfg := strings.Fields(string(guest.Config())); len(cfg) > 0 {
		prefixes = cfg
	}
	guest.HandleRequest(decide)
}

func decide(req guest.Request, resp guest.Response) bool {
	path := req.Path()
	if !clean(path) {
		resp.Deny(400, "bad request path")
		return false
	}
	if !allowed(path) {
		resp.Deny(404, "not found")
		return false
	}
	return true
}

// allowed reports whether path is a listed prefix or below one: "/me" and
// "/me/votes" pass, "/meow" does not.
func allowed(path string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// clean refuses paths that another component could read differently:
// dot segments, empty segments and encoded dots, slashes or backslashes.
func clean(path string) bool {
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "//") {
		return false
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	lower := strings.ToLower(path)
	for _, enc := range []string{"%2e", "%2f", "%5c", "\\"} {
		if strings.Contains(lower, enc) {
			return false
		}
	}
	return true
}

func main() {}
