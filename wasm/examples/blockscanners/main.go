//go:build wasip1

// Command blockscanners is a picket WASM policy that refuses requests from
// well-known vulnerability scanners, identified by their User-Agent.
package main

import (
	"strings"

	"github.com/picket-edge/picket/wasm/guest"
)

// scanners are lower-case substrings of scanner User-Agent values.
var scanners = []string{
	"sqlmap", "nikto", "masscan", "nmap", "zgrab", "nuclei", "wpscan",
	"dirbuster", "gobuster", "feroxbuster", "acunetix", "nessus", "openvas",
	"w3af", "havij", "netsparker", "qualys", "jorgee", "zmeu", "fuzz faster u fool",
}

func init() {
	guest.HandleRequest(decide)
}

func decide(req guest.Request, resp guest.Response) bool {
	// every value counts: a scanner may hide behind a second header line
	for _, ua := range req.Header("user-agent") {
		if isScanner(ua) {
			resp.Deny(403, "forbidden")
			return false
		}
	}
	return true
}

func isScanner(ua string) bool {
	ua = strings.ToLower(ua)
	for _, s := range scanners {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

func main() {}
