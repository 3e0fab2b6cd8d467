// Command origin is picket's origin API: origin bootstrap | migrate | serve.
// Run it without arguments for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/picket-edge/picket/origin/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, cli.Streams{Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
