package onion

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hs")
	addr, err := LoadOrCreateKey(dir, KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "hs")
	otherAddr, err := LoadOrCreateKey(other, KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		opts    KeyOptions
		want    string
		wantErr error
	}{
		{name: "existing", prepare: func(*testing.T) string { return dir }, want: addr},
		{name: "pinned match", prepare: func(*testing.T) string { return dir },
			opts: KeyOptions{Pin: strings.ToUpper(strings.TrimSuffix(addr, ".onion"))}, want: addr},
		{name: "pinned other", prepare: func(*testing.T) string { return dir },
			opts: KeyOptions{Pin: otherAddr}, wantErr: ErrAddressChanged},
		{name: "pinned first use", prepare: func(t *testing.T) string { return filepath.Join(t.TempDir(), "hs") },
			opts: KeyOptions{Pin: addr}, wantErr: ErrKeyMissing},
		{name: "pinned regenerate refused", prepare: func(t *testing.T) string {
			d := copyDir(t, dir)
			os.Remove(filepath.Join(d, secretKeyFile))
			return d
		}, opts: KeyOptions{Pin: addr, Regenerate: true}, wantErr: ErrKeyMissing},
		{name: "empty dir is first use", prepare: func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "hs")
			os.Mkdir(d, 0o700)
			return d
		}},
		{name: "hostname mismatch", prepare: func(t *testing.T) string {
			d := copyDir(t, dir)
			os.WriteFile(filepath.Join(d, hostnameFile), []byte(otherAddr+"\n"), 0o600)
			return d
		}, wantErr: ErrKeyCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadOrCreateKey(tt.prepare(t), tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.want != "" && got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("open mode refused", func(t *testing.T) {
		d := copyDir(t, dir)
		if err := os.Chmod(filepath.Join(d, secretKeyFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(d, KeyOptions{}); err == nil || !strings.Contains(err.Error(), "0600") {
			t.Fatalf("got error %v, want one naming mode 0600", err)
		}
	})
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "hs")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{secretKeyFile, publicKeyFile, hostnameFile} {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
