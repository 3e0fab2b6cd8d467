package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/logfield"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the id of the request carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-Id"

// withRequestID takes a well-formed inbound X-Request-Id (the edge sets
// one per request) or makes a random one, and echoes it in the response.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// validRequestID accepts 8 to 64 characters of [A-Za-z0-9._-]: a UUID as
// Caddy makes them, or anything similar, but nothing that could smuggle
// text into a log line.
func validRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// newRequestID returns a random version 4 UUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// withBodyCap refuses a declared-too-large body at once and caps the rest;
// handlers that read past the cap answer 413 (see readJSON).
func (s *Server) withBodyCap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			writeTooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func writeTooLarge(w http.ResponseWriter, r *http.Request) {
	// the client is still sending; tell the server not to read on
	w.Header().Set("Connection", "close")
	apierror.Write(w, http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("request body over %d bytes", MaxBodyBytes), RequestID(r.Context()))
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(status int) {
	if sw.status == 0 {
		sw.status = status
	}
	sw.ResponseWriter.WriteHeader(status)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// withAccessLog logs one line per request: id, route pattern (never the raw
// path, which may hold identifiers), method, status, duration. Nothing about
// the client: no address, user agent, cookie, authorization or body.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)

		ctx := r.Context()
		if !s.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String(logfield.RequestID, RequestID(ctx)),
			slog.String(logfield.Route, route),
			slog.String(logfield.Method, knownMethod(r.Method)),
			slog.Int(logfield.Status, sw.status),
			slog.Float64(logfield.Duration, float64(time.Since(start).Microseconds())/1000),
		)
	})
}

// knownMethod keeps a client-chosen method token out of the log unless it
// is a standard one.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
