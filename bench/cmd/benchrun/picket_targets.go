package main

// picketTargets lists picket's own chains. They are filled in as the
// lock-down, rate-limit, onion and WASM modules land.
func picketTargets(o options) []target {
	return nil
}
