// Command cfstandin is a local STAND-IN for Cloudflare's edge, for
// development and tests only. It accepts plain HTTP on 127.0.0.1:8080 and
// forwards each request to the gateway the way Cloudflare would: over TLS
// with an authenticated-origin-pull client certificate, from a loopback
// address that the development configuration lists as a Cloudflare edge
// (127.0.0.2), with CF-Connecting-IP set to the caller's address and the
// caller's X-Forwarded-For kept with the caller appended.
//
// On first run it creates its own origin-pull CA and client certificate in
// -dir (default .data/cfstandin); the gateway trusts -dir/ca.pem. With -init
// it only does that and exits, so scripts can create the CA before Caddy
// starts.
//
// It is not Cloudflare: no caching, no WAF, no range list, no IPv6.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address callers connect to")
	flag.StringVar(&cfg.Upstream, "upstream", "https://127.0.0.1:8443", "the gateway")
	flag.StringVar(&cfg.Host, "host", "localhost", "Host header and TLS server name towards the gateway")
	flag.StringVar(&cfg.Source, "source", "127.0.0.2", "loopback address to connect to the gateway from")
	flag.StringVar(&cfg.Dir, "dir", ".data/cfstandin", "directory for the stand-in's CA and client certificate")
	flag.StringVar(&cfg.OriginCA, "origin-ca", "", "PEM file to verify the gateway's certificate (empty: not verified)")
	initOnly := flag.Bool("init", false, "create the CA and client certificate, then exit")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(cfg, *initOnly, log); err != nil {
		log.Error("cfstandin", "error", err)
		os.Exit(1)
	}
}

func run(cfg config, initOnly bool, log *slog.Logger) error {
	cert, err := ensurePKI(cfg.Dir, time.Now())
	if err != nil {
		return err
	}
	if initOnly {
		log.Info("stand-in origin-pull CA ready", "dir", cfg.Dir)
		return nil
	}
	h, err := newProxy(cfg, cert, log)
	if err != nil {
		return err
	}
	if cfg.OriginCA == "" {
		log.Warn("not verifying the gateway's certificate (like Cloudflare's Full mode); set -origin-ca for Full (strict)")
	}

	srv := &http.Server{Addr: cfg.Listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()

	log.Info("Cloudflare edge stand-in listening", "listen", cfg.Listen,
		"upstream", cfg.Upstream, "source", cfg.Source)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
