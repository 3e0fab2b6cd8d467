// Command loadgen is picket's closed-loop HTTP load generator. It exists
// because wrk cannot present a TLS client certificate, and picket's clearnet
// chain refuses connections without one (authenticated origin pulls); using
// one generator for every target keeps comparisons fair. It prints one JSON
// object with the results. It refuses targets that are not on loopback.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/picket-edge/picket/bench/internal/load"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	target := flag.String("url", "", "target URL (loopback only)")
	conns := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 5*time.Second, "duration")
	method := flag.String("method", http.MethodGet, "request method")
	caFile := flag.String("ca", "", "PEM file of the CA that signed the server certificate")
	certFile := flag.String("cert", "", "client certificate PEM (origin pull)")
	keyFile := flag.String("key", "", "client key PEM")
	sni := flag.String("sni", "", "TLS server name (default: the URL host)")
	h2 := flag.Bool("h2", false, "use HTTP/2 over TLS")
	var headers headerFlags
	flag.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	flag.Parse()

	tlsConf, err := load.TLSConfig(*caFile, *certFile, *keyFile, *sni)
	if err != nil {
		fail(err)
	}
	res, err := load.Run(load.Config{
		URL: *target, Method: *method, Header: load.ParseHeaders(headers),
		Conns: *conns, Time: *dur, TLS: tlsConf, HTTP2: *h2,
	})
	if err != nil {
		fail(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}
