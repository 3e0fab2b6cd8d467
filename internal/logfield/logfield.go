// Package logfield names the structured log fields used across picket, by the
// Caddy modules (zap) and by the origin (log/slog) alike, so that one query
// works on both. Nothing that identifies a person has a field here on purpose:
// see RATIONALE.md, "Why do logs carry no addresses?".
package logfield

const (
	RequestID = "request_id"
	Route     = "route"
	Method    = "method"
	Status    = "status"
	Duration  = "duration_ms"
	Database  = "database"
	Module    = "module"
	Zone      = "zone"
	Source    = "source"
	Reason    = "reason"
	Count     = "count"
	Size      = "size"
	Version   = "version"
	Error     = "error"
	Kind      = "kind"   // an event kind (origin logs.events)
	Target    = "target" // what a maintenance step acted on
	Listen    = "listen" // a listen address of our own

	OnionAddress = "onion_address" // the service's public .onion name
	PID          = "pid"           // a child process (tor)
	Backoff      = "backoff"       // pause before a restart
	Network      = "network"       // whether tor may use the Tor network

	SHA256       = "sha256"        // hex SHA-256 of a loaded file (a WASM guest)
	Suppressed   = "suppressed"    // log lines left out by rate limiting
	Reused       = "reused"        // a reload kept already loaded state
	GuestMessage = "guest_message" // text a WASM guest logged
)
