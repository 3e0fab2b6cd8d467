package keys_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picket-edge/picket/origin/internal/keys"
)

func newKeyring(t *testing.T, dir string, master []byte) *keys.Keyring {
	t.Helper()
	k, err := keys.OpenKeyring(dir, master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testMaster(b byte) []byte { return bytes.Repeat([]byte{b}, keys.MasterKeySize) }

func TestRotateAndMinimumDecryptionVersion(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, t.TempDir(), testMaster(1))
	aad := []byte("blob|1")

	v1, err := k.Encrypt(ctx, "blobs", []byte("first secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v1, "vault:v1:") {
		t.Fatalf("ciphertext prefix: got %q, want vault:v1:", v1[:9])
	}
	sig1, err := k.Sign(ctx, "blobs", []byte("signed"))
	if err != nil {
		t.Fatal(err)
	}

	if err := k.Rotate(ctx, "blobs"); err != nil {
		t.Fatal(err)
	}
	v2, err := k.Encrypt(ctx, "blobs", []byte("second secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v2, "vault:v2:") {
		t.Fatalf("ciphertext prefix after rotate: got %q, want vault:v2:", v2[:9])
	}

	tests := []struct {
		name    string
		min     int
		in      string
		want    string
		wantErr error
	}{
		{name: "old opens after rotate", min: 1, in: v1, want: "first secret"},
		{name: "new opens", min: 1, in: v2, want: "second secret"},
		{name: "old refused after raising minimum", min: 2, in: v1, wantErr: keys.ErrVersionRetired},
		{name: "new opens after raising minimum", min: 2, in: v2, want: "second secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := k.SetMinDecryptionVersion(ctx, "blobs", tt.min); err != nil {
				t.Fatal(err)
			}
			got, err := k.Decrypt(ctx, "blobs", tt.in, aad)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("plaintext: got %q, want %q", got, tt.want)
			}
		})
	}

	if err := k.Verify(ctx, "blobs", []byte("signed"), sig1); !errors.Is(err, keys.ErrVersionRetired) {
		t.Errorf("verify v1 signature after minimum 2: got %v, want ErrVersionRetired", err)
	}
}

func TestHMACVersions(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, t.TempDir(), testMaster(2))
	h1, _ := k.HMAC(ctx, "membership", []byte("user|union"))
	again, _ := k.HMAC(ctx, "membership", []byte("user|union"))
	if h1 != again {
		t.Fatalf("hmac not deterministic: got %q and %q", h1, again)
	}
	other, _ := k.HMAC(ctx, "other", []byte("user|union"))
	if other[len("vault:v1:"):] == h1[len("vault:v1:"):] {
		t.Error("two keys gave the same hmac")
	}

	_ = k.Rotate(ctx, "membership")
	all, err := k.HMACAll(ctx, "membership", []byte("user|union"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1] != h1 || !strings.HasPrefix(all[0], "vault:v2:") {
		t.Fatalf("HMACAll after rotate: got %v, want [v2, %s]", all, h1)
	}
	_ = k.SetMinDecryptionVersion(ctx, "membership", 2)
	if all, _ := k.HMACAll(ctx, "membership", []byte("user|union")); len(all) != 1 {
		t.Errorf("HMACAll after minimum 2: got %d hashes, want 1", len(all))
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, t.TempDir(), testMaster(3))
	ct, _ := k.Encrypt(ctx, "k", []byte("secret"), []byte("a"))
	sig, _ := k.Sign(ctx, "k", []byte("data"))

	tampered := []byte(ct)
	tampered[len(tampered)-3] ^= 1
	tests := []struct {
		name string
		run  func() error
	}{
		{name: "wrong aad", run: func() error { _, err := k.Decrypt(ctx, "k", ct, []byte("b")); return err }},
		{name: "tampered", run: func() error { _, err := k.Decrypt(ctx, "k", string(tampered), []byte("a")); return err }},
		{name: "no prefix", run: func() error { _, err := k.Decrypt(ctx, "k", "abc", nil); return err }},
		{name: "unknown version", run: func() error {
			_, err := k.Decrypt(ctx, "k", "vault:v9:"+ct[len("vault:v1:"):], []byte("a"))
			return err
		}},
		{name: "other key", run: func() error { _, err := k.Decrypt(ctx, "k2", ct, []byte("a")); return err }},
		{name: "bad signature", run: func() error { return k.Verify(ctx, "k", []byte("other"), sig) }},
		{name: "bad key name", run: func() error { _, err := k.HMAC(ctx, "../x", nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil {
				t.Fatal("got nil error, want a refusal")
			}
		})
	}
	if err := k.Verify(ctx, "k", []byte("data"), sig); err != nil {
		t.Errorf("good signature: got %v, want nil", err)
	}
}

func TestPersistenceAndSealing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keyring")
	k := newKeyring(t, dir, testMaster(4))
	h, _ := k.HMAC(ctx, "membership", []byte("x"))

	fi, err := os.Stat(filepath.Join(dir, "membership.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: got %o, want 600", fi.Mode().Perm())
	}

	reopened := newKeyring(t, dir, testMaster(4))
	if h2, _ := reopened.HMAC(ctx, "membership", []byte("x")); h2 != h {
		t.Errorf("hmac after reopen: got %q, want %q", h2, h)
	}
	wrong := newKeyring(t, dir, testMaster(5))
	if _, err := wrong.HMAC(ctx, "membership", []byte("x")); err == nil {
		t.Error("keyring under the wrong master key: got nil error, want unseal failure")
	}
}

func TestMasterKeyGeneratedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keyring")
	env := func(string) string { return "" }
	k1, gen1, err := keys.MasterKey(env, dir)
	if err != nil || !gen1 {
		t.Fatalf("first: got generated=%v err=%v, want generated", gen1, err)
	}
	k2, gen2, err := keys.MasterKey(env, dir)
	if err != nil || gen2 || !bytes.Equal(k1, k2) {
		t.Fatalf("second: got generated=%v err=%v same=%v, want the same key read back",
			gen2, err, bytes.Equal(k1, k2))
	}
	fi, _ := os.Stat(filepath.Join(filepath.Dir(dir), "master.key"))
	if fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master key file: got %v, want mode 600", fi)
	}
}

func TestTwoKeyringsAgreeOnANewKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := newKeyring(t, dir, testMaster(6))
	b := newKeyring(t, dir, testMaster(6))

	ha, err := a.HMAC(ctx, "shared", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := b.HMAC(ctx, "shared", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Fatalf("hmac from a second keyring on the same directory: got %q, want %q", hb, ha)
	}

	if err := b.Rotate(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if err := a.Rotate(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	info, _ := newKeyring(t, dir, testMaster(6)).Info(ctx, "shared")
	if info.Latest != 3 {
		t.Errorf("latest after one rotation in each keyring: got %d, want 3", info.Latest)
	}
}
