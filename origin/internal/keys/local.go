package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Keyring is the local Manager: one file per key in a directory (mode
// 0700, files 0600), each key version's material sealed with AES-256-GCM
// under a master key given from outside (see MasterKey). See RATIONALE.md,
// "Why a local keyring first, shaped like Vault transit?".
type Keyring struct {
	dir    string
	master cipher.AEAD
	mu     sync.Mutex
	cache  map[string]*keyFile
}

// MasterKeySize is the length of the master key in bytes.
const MasterKeySize = 32

// OpenKeyring uses dir (created if missing) with the given master key.
func OpenKeyring(dir string, masterKey []byte) (*Keyring, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key: got %d bytes, want %d", len(masterKey), MasterKeySize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating keyring directory: %w", err)
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return nil, err
	}
	return &Keyring{dir: dir, master: aead, cache: map[string]*keyFile{}}, nil
}

// keyFile is the stored form of a key.
type keyFile struct {
	Latest int            `json:"latest"`
	Min    int            `json:"min_decryption_version"`
	Sealed map[int]string `json:"versions"` // version to sealed material, base64

	material map[int][]byte // opened, in memory only
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// derive gives each use of a version's material its own key, so the same
// 32 bytes never serve two algorithms.
func derive(material []byte, use string) []byte {
	m := hmac.New(sha256.New, material)
	m.Write([]byte("picket keyring " + use))
	return m.Sum(nil)
}

func sealAAD(name string, version int) []byte {
	return []byte(fmt.Sprintf("picket-keyring|%s|%d", name, version))
}

// load returns the key, creating it on first use. Callers hold k.mu.
func (k *Keyring) load(name string) (*keyFile, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if kf, ok := k.cache[name]; ok {
		return kf, nil
	}

	b, err := os.ReadFile(k.path(name))
	if errors.Is(err, os.ErrNotExist) {
		kf := &keyFile{Min: 1, Sealed: map[int]string{}, material: map[int][]byte{}}
		err = k.addVersion(name, kf, true)
		if err == nil {
			k.cache[name] = kf
			return kf, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		// another process created it first: use theirs
		b, err = os.ReadFile(k.path(name))
	}
	if err != nil {
		return nil, fmt.Errorf("reading key %s: %w", name, err)
	}
	return k.open(name, b)
}

// open unseals a key file's versions and caches the key.
func (k *Keyring) open(name string, b []byte) (*keyFile, error) {
	kf := &keyFile{}
	if err := json.Unmarshal(b, kf); err != nil {
		return nil, fmt.Errorf("parsing key %s: %w", name, err)
	}
	kf.material = map[int][]byte{}
	for v, sealed := range kf.Sealed {
		m, err := k.unseal(name, v, sealed)
		if err != nil {
			return nil, err
		}
		kf.material[v] = m
	}
	k.cache[name] = kf
	return kf, nil
}

func (k *Keyring) unseal(name string, v int, sealed string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	ns := k.master.NonceSize()
	if err != nil || len(raw) < ns {
		return nil, fmt.Errorf("key %s version %d: damaged", name, v)
	}
	m, err := k.master.Open(nil, raw[:ns], raw[ns:], sealAAD(name, v))
	if err != nil {
		return nil, fmt.Errorf("key %s version %d: cannot unseal (wrong master key?)", name, v)
	}
	return m, nil
}

// addVersion makes a new latest version and saves the key; with create,
// saving fails with os.ErrExist if the key file appeared meanwhile.
func (k *Keyring) addVersion(name string, kf *keyFile, create bool) error {
	material := make([]byte, 32)
	nonce := make([]byte, k.master.NonceSize())
	if _, err := rand.Read(material); err != nil {
		return err
	}
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	v := kf.Latest + 1
	sealed := k.master.Seal(nonce, nonce, material, sealAAD(name, v))
	kf.Sealed[v] = base64.StdEncoding.EncodeToString(sealed)
	kf.material[v] = material
	kf.Latest = v
	return k.save(name, kf, create)
}

func (k *Keyring) path(name string) string { return filepath.Join(k.dir, name+".json") }

func (k *Keyring) save(name string, kf *keyFile, create bool) error {
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(k.dir, "."+name+"-*")
	if err != nil {
		return fmt.Errorf("saving key %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("saving key %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving key %s: %w", name, err)
	}
	// CreateTemp makes the file 0600; a link never replaces a key another
	// process has just created
	if create {
		if err := os.Link(tmp.Name(), k.path(name)); err != nil {
			return fmt.Errorf("creating key %s: %w", name, err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), k.path(name)); err != nil {
		return fmt.Errorf("saving key %s: %w", name, err)
	}
	return nil
}

// version returns the material of version v if it is usable for reading.
func (kf *keyFile) version(v int) ([]byte, error) {
	if v < kf.Min {
		return nil, ErrVersionRetired
	}
	m, ok := kf.material[v]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key version", ErrInvalid)
	}
	return m, nil
}

func (k *Keyring) withKey(name string, f func(kf *keyFile) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	kf, err := k.load(name)
	if err != nil {
		return err
	}
	return f(kf)
}

// changeKey is withKey on a fresh read of the file, so that a change does
// not undo one another process (origin keys) saved meanwhile.
//
// Note: a running server reads a key once; a rotation or a raised minimum
// made by "origin keys" reaches it at its next start.
func (k *Keyring) changeKey(name string, f func(kf *keyFile) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.cache, name)
	kf, err := k.load(name)
	if err != nil {
		return err
	}
	return f(kf)
}

func hmacOf(material, data []byte) string {
	m := hmac.New(sha256.New, derive(material, "hmac"))
	m.Write(data)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// HMAC implements Manager.
func (k *Keyring) HMAC(_ context.Context, key string, data []byte) (string, error) {
	var out string
	err := k.withKey(key, func(kf *keyFile) error {
		out = format(kf.Latest, hmacOf(kf.material[kf.Latest], data))
		return nil
	})
	return out, err
}

// HMACAll implements Manager.
func (k *Keyring) HMACAll(_ context.Context, key string, data []byte) ([]string, error) {
	var out []string
	err := k.withKey(key, func(kf *keyFile) error {
		for v := kf.Latest; v >= kf.Min; v-- {
			out = append(out, format(v, hmacOf(kf.material[v], data)))
		}
		return nil
	})
	return out, err
}

// Encrypt implements Manager.
func (k *Keyring) Encrypt(_ context.Context, key string, plaintext, aad []byte) (string, error) {
	var out string
	err := k.withKey(key, func(kf *keyFile) error {
		aead, err := newAEAD(derive(kf.material[kf.Latest], "aead"))
		if err != nil {
			return err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		sealed := aead.Seal(nonce, nonce, plaintext, aad)
		out = format(kf.Latest, base64.StdEncoding.EncodeToString(sealed))
		return nil
	})
	return out, err
}

// Decrypt implements Manager.
func (k *Keyring) Decrypt(_ context.Context, key, ciphertext string, aad []byte) ([]byte, error) {
	v, payload, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = k.withKey(key, func(kf *keyFile) error {
		material, err := kf.version(v)
		if err != nil {
			return err
		}
		aead, err := newAEAD(derive(material, "aead"))
		if err != nil {
			return err
		}
		raw, err := base64.StdEncoding.DecodeString(payload)
		if err != nil || len(raw) < aead.NonceSize() {
			return ErrInvalid
		}
		ns := aead.NonceSize()
		out, err = aead.Open(nil, raw[:ns], raw[ns:], aad)
		if err != nil {
			return ErrInvalid
		}
		return nil
	})
	return out, err
}

func signer(material []byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(derive(material, "sign"))
}

// Sign implements Manager.
func (k *Keyring) Sign(_ context.Context, key string, data []byte) (string, error) {
	var out string
	err := k.withKey(key, func(kf *keyFile) error {
		sig := ed25519.Sign(signer(kf.material[kf.Latest]), data)
		out = format(kf.Latest, base64.StdEncoding.EncodeToString(sig))
		return nil
	})
	return out, err
}

// Verify implements Manager.
func (k *Keyring) Verify(_ context.Context, key string, data []byte, signature string) error {
	v, payload, err := parse(signature)
	if err != nil {
		return err
	}
	return k.withKey(key, func(kf *keyFile) error {
		material, err := kf.version(v)
		if err != nil {
			return err
		}
		sig, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			return ErrInvalid
		}
		pub := signer(material).Public().(ed25519.PublicKey)
		if !ed25519.Verify(pub, data, sig) {
			return ErrInvalid
		}
		return nil
	})
}

// Rotate implements Manager.
func (k *Keyring) Rotate(_ context.Context, key string) error {
	return k.changeKey(key, func(kf *keyFile) error {
		return k.addVersion(key, kf, false)
	})
}

// SetMinDecryptionVersion implements Manager.
func (k *Keyring) SetMinDecryptionVersion(_ context.Context, key string, v int) error {
	return k.changeKey(key, func(kf *keyFile) error {
		if v < 1 || v > kf.Latest {
			return fmt.Errorf("minimum decryption version %d: want 1 to %d", v, kf.Latest)
		}
		kf.Min = v
		return k.save(key, kf, false)
	})
}

// Info implements Manager.
func (k *Keyring) Info(_ context.Context, key string) (Info, error) {
	var info Info
	err := k.withKey(key, func(kf *keyFile) error {
		info = Info{Latest: kf.Latest, MinDecryptionVersion: kf.Min}
		return nil
	})
	return info, err
}

// Names lists the keys in the keyring.
func (k *Keyring) Names() ([]string, error) {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

var _ Manager = (*Keyring)(nil)
