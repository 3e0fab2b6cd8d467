package onion

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cretz/bine/torutil"
	bined "github.com/cretz/bine/torutil/ed25519"
)

// File names tor uses inside a v3 HiddenServiceDir.
const (
	secretKeyFile = "hs_ed25519_secret_key"
	publicKeyFile = "hs_ed25519_public_key"
	hostnameFile  = "hostname"
)

// tor's key files start with a 32-byte tag padded with NUL bytes.
var (
	secretKeyTag = keyTag("== ed25519v1-secret: type0 ==")
	publicKeyTag = keyTag("== ed25519v1-public: type0 ==")
)

func keyTag(s string) []byte {
	b := make([]byte, 32)
	copy(b, s)
	return b
}

// ErrKeyMissing is returned when the service directory exists from an
// earlier start but its secret key is gone. Starting anyway would publish
// the union under a new address, so picket refuses unless regeneration is
// asked for.
var ErrKeyMissing = errors.New("onion service key is missing")

// ErrKeyCorrupt is returned when the secret key cannot be read as a tor v3
// key, or does not match the public key or hostname stored beside it.
var ErrKeyCorrupt = errors.New("onion service key is corrupt")

// ErrAddressChanged is returned when the key on disk does not belong to the
// address the configuration pins.
var ErrAddressChanged = errors.New("onion service key does not match the pinned address")

// KeyOptions says how LoadOrCreateKey treats a missing or damaged key.
type KeyOptions struct {
	// Regenerate allows replacing a missing or corrupt key with a new one.
	// The old key file, if any, is kept beside it with a ".replaced" suffix.
	Regenerate bool

	// Pin is the expected address (with or without ".onion"). When set, the
	// key must exist and belong to it; a new key is never made.
	Pin string
}

// LoadOrCreateKey makes sure dir holds a usable v3 onion service key and
// returns the service's address (56 base32 characters and ".onion").
//
// A key is created only on first use, when dir does not exist or is empty.
// The key never leaves dir and is never part of an error or log message.
func LoadOrCreateKey(dir string, opts KeyOptions) (string, error) {
	pin := strings.TrimSuffix(strings.ToLower(opts.Pin), ".onion")
	if pin != "" {
		if _, err := torutil.PublicKeyFromV3OnionServiceID(pin); err != nil {
			return "", fmt.Errorf("pinned onion address is not a v3 address")
		}
	}

	addr, err := loadKey(dir)
	switch {
	case err == nil && pin != "" && addr != pin+".onion":
		return "", ErrAddressChanged
	case err == nil:
		return addr, nil
	case errors.Is(err, fs.ErrNotExist) && pin == "" && firstUse(dir):
		return createKey(dir)
	case errors.Is(err, fs.ErrNotExist):
		err = ErrKeyMissing
	}

	if !opts.Regenerate || pin != "" || !(errors.Is(err, ErrKeyMissing) || errors.Is(err, ErrKeyCorrupt)) {
		return "", err
	}
	if err := setAside(dir); err != nil {
		return "", err
	}
	return createKey(dir)
}

// Address returns the address of the key in dir without creating or
// changing anything.
func Address(dir string) (string, error) {
	addr, err := loadKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrKeyMissing
	}
	return addr, err
}

// firstUse reports whether dir has never held a service: it does not exist
// or has no entries.
func firstUse(dir string) bool {
	entries, err := os.ReadDir(dir)
	return errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0)
}

// loadKey reads and checks the secret key in dir. It returns an error
// wrapping fs.ErrNotExist when there is no key file.
func loadKey(dir string) (string, error) {
	path := filepath.Join(dir, secretKeyFile)
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading onion service key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("onion service key file has mode %04o, want 0600",
			info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading onion service key: %w", err)
	}
	if len(raw) != 96 || !bytes.Equal(raw[:32], secretKeyTag) || !clamped(raw[32:]) {
		return "", ErrKeyCorrupt
	}

	pub := bined.PrivateKey(raw[32:]).PublicKey()
	addr := torutil.OnionServiceIDFromV3PublicKey(pub) + ".onion"
	if err := matchCompanions(dir, pub, addr); err != nil {
		return "", err
	}
	return addr, nil
}

// clamped reports whether the first half of an expanded ed25519 key is a
// clamped scalar, as every tor-made and picket-made key is.
func clamped(expanded []byte) bool {
	return expanded[0]&7 == 0 && expanded[31]&0x80 == 0 && expanded[31]&0x40 != 0
}

// matchCompanions checks the public key and hostname files, when present,
// against the secret key. A mismatch means the secret key was damaged.
func matchCompanions(dir string, pub []byte, addr string) error {
	raw, err := os.ReadFile(filepath.Join(dir, publicKeyFile))
	if err == nil && !bytes.Equal(raw, append(append([]byte(nil), publicKeyTag...), pub...)) {
		return ErrKeyCorrupt
	}
	host, err := os.ReadFile(filepath.Join(dir, hostnameFile))
	if err == nil && strings.TrimSpace(string(host)) != addr {
		return ErrKeyCorrupt
	}
	return nil
}

// createKey writes a new key, its public half and hostname into dir.
func createKey(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating onion service directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("securing onion service directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating onion service key: %w", err)
	}
	pair := bined.FromCryptoPrivateKey(priv)
	pub := pair.PublicKey()
	addr := torutil.OnionServiceIDFromV3PublicKey(pub) + ".onion"

	files := []struct {
		name string
		data []byte
	}{
		{secretKeyFile, append(append([]byte(nil), secretKeyTag...), pair.PrivateKey()...)},
		{publicKeyFile, append(append([]byte(nil), publicKeyTag...), pub...)},
		{hostnameFile, []byte(addr + "\n")},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return "", err
		}
	}
	return addr, nil
}

// setAside renames the key files in dir out of tor's way, keeping the old
// secret key for forensics rather than deleting it.
func setAside(dir string) error {
	for _, name := range []string{secretKeyFile, publicKeyFile, hostnameFile} {
		p := filepath.Join(dir, name)
		err := os.Rename(p, p+".replaced")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("setting aside old onion service key: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes data with mode 0600 through a temporary file so a
// crash never leaves half a key behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
