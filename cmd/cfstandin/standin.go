package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

// config is the stand-in's configuration, from flags.
type config struct {
	Listen   string // where callers connect
	Upstream string // the gateway, https://host:port
	Host     string // Host header and SNI towards the gateway
	Source   string // local address to connect from
	Dir      string // CA and client certificate
	OriginCA string // PEM file to verify the gateway's certificate; "" skips
}

// removed lists inbound headers the stand-in drops before adding its own,
// as Cloudflare's edge does with the headers it owns.
var removed = []string{"Forwarded", "True-Client-Ip", "X-Real-Ip", "X-Picket-Client"}

// newProxy returns the stand-in's handler: a reverse proxy to the gateway
// that behaves, towards the gateway, like Cloudflare's edge.
func newProxy(cfg config, cert tls.Certificate, log *slog.Logger) (http.Handler, error) {
	up, err := url.Parse(cfg.Upstream)
	if err != nil || up.Scheme != "https" || up.Host == "" {
		return nil, fmt.Errorf("upstream %q: want https://host:port", cfg.Upstream)
	}
	src := net.ParseIP(cfg.Source)
	if src == nil {
		return nil, fmt.Errorf("source %q is not an IP address", cfg.Source)
	}

	tcfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ServerName:   cfg.Host,
		MinVersion:   tls.VersionTLS12,
	}
	if cfg.OriginCA == "" {
		// like Cloudflare's "Full" (not "Full (strict)") mode.
		tcfg.InsecureSkipVerify = true
	} else {
		pem, err := os.ReadFile(cfg.OriginCA)
		if err != nil {
			return nil, fmt.Errorf("reading origin CA: %w", err)
		}
		tcfg.RootCAs = x509.NewCertPool()
		if !tcfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("origin CA %s holds no certificate", cfg.OriginCA)
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tcfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}

	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = cfg.Host
			rewriteHeaders(pr.In, pr.Out.Header)
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			// the error names the gateway's address, never the caller's.
			log.Warn("forwarding to the gateway", "error", err)
			http.Error(w, "stand-in: origin unreachable", http.StatusBadGateway)
		},
	}, nil
}

// rewriteHeaders sets the headers Cloudflare's edge sends to an origin.
func rewriteHeaders(in *http.Request, out http.Header) {
	caller, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		caller = in.RemoteAddr
	}
	for k := range out {
		if strings.HasPrefix(strings.ToLower(k), "cf-") {
			delete(out, k)
		}
	}
	for _, k := range removed {
		out.Del(k)
	}

	out.Set("CF-Connecting-IP", caller)
	// Cloudflare appends the visitor to whatever X-Forwarded-For it got:
	// the left-most entry stays the caller's choice.
	if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		out.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+caller)
	} else {
		out.Set("X-Forwarded-For", caller)
	}
	out.Set("X-Forwarded-Proto", "https")
	out.Set("CF-Visitor", `{"scheme":"https"}`)
	out.Set("CF-Ray", rayID()+"-DEV")
}

func rayID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
