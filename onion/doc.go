// Package onion runs the union's Tor onion service: it keeps the service key,
// writes the torrc that defines the service and its defences, and starts and
// supervises tor through bine, restarting it when it exits.
//
// The service is defined in a torrc rather than with ADD_ONION because only
// the torrc can export circuit IDs and turn on the proof-of-work and
// intro-point defences; see RATIONALE.md, "Why a torrc rather than
// ADD_ONION?".
package onion
