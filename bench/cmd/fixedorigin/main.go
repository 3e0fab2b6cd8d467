// Command fixedorigin answers every request with the same small JSON body.
// scripts/bench puts it behind each gateway so that the gateways, not the
// origin, are what is measured. It listens on loopback only.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"
)

const body = `{"union":"example","members":1234,"posts":56,"ballots":[{"id":"b1","open":true}]}` + "\n"

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("fixedorigin: -listen %q is not a loopback address", *addr)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
