package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that configure the local keyring.
const (
	DirEnv           = "PICKET_KEYRING_DIR"
	MasterKeyEnv     = "PICKET_MASTER_KEY"
	MasterKeyFileEnv = "PICKET_MASTER_KEY_FILE"
)

// DefaultDir is the keyring directory when DirEnv is unset.
const DefaultDir = ".data/keyring"

// MasterKey reads the master key: base64 in MasterKeyEnv, else the file in
// MasterKeyFileEnv (base64 text or 32 raw bytes). With neither set it uses,
// and on first run creates (mode 0600), the file master.key next to the
// keyring directory; generated reports whether it did.
//
// Note: a master key file on the same disk as the keyring protects against
// a leaked keyring or database backup, not against a read of the whole
// machine. Production keeps the master key elsewhere (see docs/origin.md).
func MasterKey(env func(string) string, dir string) (key []byte, generated bool, err error) {
	if v := env(MasterKeyEnv); v != "" {
		return decodeMaster(v, MasterKeyEnv)
	}
	path := env(MasterKeyFileEnv)
	if path == "" {
		path = filepath.Join(filepath.Dir(filepath.Clean(dir)), "master.key")
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) == MasterKeySize {
			return b, false, nil
		}
		return decodeMaster(strings.TrimSpace(string(b)), path)
	}
	if !errors.Is(err, os.ErrNotExist) || env(MasterKeyFileEnv) != "" {
		return nil, false, fmt.Errorf("reading master key file: %w", err)
	}

	key = make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("creating master key file: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, false, err
	}
	return key, true, f.Close()
}

func decodeMaster(v, from string) ([]byte, bool, error) {
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != MasterKeySize {
		return nil, false, fmt.Errorf("master key from %s: want %d bytes in base64", from, MasterKeySize)
	}
	return key, false, nil
}
