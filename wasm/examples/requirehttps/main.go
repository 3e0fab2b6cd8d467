//go:build wasip1

// Command requirehttps is a picket WASM policy that refuses plain-HTTP
// requests: GET and HEAD are redirected to https (308), anything else is
// refused (403), so that no credential or ballot crosses the network in the
// clear. Onion traffic is exempt: Tor encrypts it end to end.
// Requests that pass get a Strict-Transport-Security header.
package main

import "github.com/picket-edge/picket/wasm/guest"

const hsts = "max-age=63072000; includeSubDomains"

func init() {
	guest.HandleRequest(decide)
}

func decide(req guest.Request, resp guest.Response) bool {
	if req.Source() == "onion" {
		return true
	}
	if req.Scheme() == "https" {
		resp.SetHeader("strict-transport-security", hsts)
		return true
	}
	switch m := req.Method(); {
	case (m == "GET" || m == "HEAD") && req.Host() != "":
		resp.SetStatus(308)
		resp.SetHeader("location", "https://"+req.Host()+req.URI())
		resp.SetHeader("cache-control", "no-store")
	default:
		resp.Deny(403, "https required")
	}
	return false
}

func main() {}
