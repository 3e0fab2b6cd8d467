// Package keys is the origin's key manager: keyed hashes, sealing of small
// secrets and signatures, under named keys with versions, rotation and a
// minimum decryption version. The semantics follow Vault's transit engine
// so that a transit-backed Manager can replace the local keyring without
// touching callers: outputs carry a "vault:v<N>:" prefix naming the key
// version that made them.
package keys

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Manager is what the origin asks of its secrets. Key material never leaves
// it. A key is created on first use.
type Manager interface {
	// HMAC returns the keyed hash of data under the latest version.
	HMAC(ctx context.Context, key string, data []byte) (string, error)
	// HMACAll returns the keyed hash of data under every usable version
	// (minimum decryption version to latest), newest first, for lookups of
	// values stored before a rotation.
	HMACAll(ctx context.Context, key string, data []byte) ([]string, error)
	// Encrypt seals plaintext under the latest version; aad binds it to a
	// context that Decrypt must repeat.
	Encrypt(ctx context.Context, key string, plaintext, aad []byte) (string, error)
	// Decrypt opens what Encrypt sealed; a version below the minimum
	// decryption version is refused with ErrVersionRetired.
	Decrypt(ctx context.Context, key string, ciphertext string, aad []byte) ([]byte, error)
	// Sign signs data (Ed25519) under the latest version.
	Sign(ctx context.Context, key string, data []byte) (string, error)
	// Verify checks a signature made by Sign; nil means valid.
	Verify(ctx context.Context, key string, data []byte, signature string) error
	// Rotate adds a new latest version.
	Rotate(ctx context.Context, key string) error
	// SetMinDecryptionVersion retires every version below v for Decrypt,
	// Verify and HMACAll.
	SetMinDecryptionVersion(ctx context.Context, key string, v int) error
	// Info reports a key's latest and minimum decryption versions.
	Info(ctx context.Context, key string) (Info, error)
}

// Info describes a key's versions.
type Info struct {
	Latest               int `json:"latest"`
	MinDecryptionVersion int `json:"min_decryption_version"`
}

var (
	// ErrVersionRetired is returned for output of a version below the
	// key's minimum decryption version.
	ErrVersionRetired = errors.New("key version is below the minimum decryption version")
	// ErrInvalid is returned for malformed or unauthentic input.
	ErrInvalid = errors.New("invalid ciphertext or signature")
)

const prefix = "vault:v"

// format prefixes a payload with its key version.
func format(version int, payload string) string {
	return prefix + strconv.Itoa(version) + ":" + payload
}

// parse splits "vault:vN:payload".
func parse(s string) (int, string, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, "", fmt.Errorf("%w: missing version prefix", ErrInvalid)
	}
	num, payload, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", fmt.Errorf("%w: missing version prefix", ErrInvalid)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 {
		return 0, "", fmt.Errorf("%w: bad key version", ErrInvalid)
	}
	return v, payload, nil
}

// validName keeps key names safe as file names.
func validName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("key name %q: want 1 to 64 characters", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("key name %q: want only a-z, 0-9, - and _", name)
		}
	}
	return nil
}
