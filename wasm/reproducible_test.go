package wasm_test

import (
	"os/exec"
	"testing"
)

// TestCommittedWasmIsReproducible rebuilds every committed .wasm with
// scripts/build-wasm --check (Go for the examples, wabt's wat2wasm for the
// test guests) and fails if one differs from its source.
func TestCommittedWasmIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds every guest: skipped under -short")
	}
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Fatal("wat2wasm not found: install the Debian package wabt")
	}
	cmd := exec.Command("../scripts/build-wasm", "--check")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-wasm --check: %v\n%s", err, out)
	}
}
