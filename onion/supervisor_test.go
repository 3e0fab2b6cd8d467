package onion

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// needTor returns the tor binary or fails the test naming the package.
func needTor(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts tor; skipped with -short")
	}
	p, err := exec.LookPath("tor")
	if err != nil {
		t.Fatal("tor not found on PATH: apt-get install -y tor")
	}
	return p
}

// testConfig is a service with the network disabled in a fresh directory.
func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	return Config{
		TorPath: needTor(t),
		DataDir: filepath.Join(dir, "tor"),
		Socket:  filepath.Join(dir, "onion.sock"),
	}
}

func startSupervisor(t *testing.T, cfg Config, opts ...Option) *Supervisor {
	t.Helper()
	s, err := NewSupervisor(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestAddressStableAcrossRestarts(t *testing.T) {
	cfg := testConfig(t)
	s := startSupervisor(t, cfg)
	first := s.Status()
	if !first.Running || first.PID == 0 {
		t.Fatalf("got status %+v, want running", first)
	}
	if !strings.HasSuffix(first.Address, ".onion") || len(first.Address) != 62 {
		t.Fatalf("got address %q, want a v3 onion address", first.Address)
	}
	s.Stop()

	s2 := startSupervisor(t, cfg)
	if got := s2.Status().Address; got != first.Address {
		t.Fatalf("got address %q after restart, want %q", got, first.Address)
	}

	// tor wrote the same hostname, and left the key private
	host, err := os.ReadFile(filepath.Join(cfg.ServiceDir(), "hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(host)); got != first.Address {
		t.Fatalf("got tor hostname %q, want %q", got, first.Address)
	}
	info, err := os.Stat(filepath.Join(cfg.ServiceDir(), secretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Fatalf("got key mode %04o, want 0600", got)
	}
}

func TestCorruptKeyStopsStart(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		opts    KeyOptions
		wantErr error
	}{
		{name: "garbage", damage: func(t *testing.T, dir string) {
			writeKeyFile(t, dir, []byte("not a key"))
		}, wantErr: ErrKeyCorrupt},
		{name: "flipped byte", damage: func(t *testing.T, dir string) {
			raw, err := os.ReadFile(filepath.Join(dir, secretKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			raw[40] ^= 0x10
			writeKeyFile(t, dir, raw)
		}, wantErr: ErrKeyCorrupt},
		{name: "missing", damage: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, secretKeyFile)); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrKeyMissing},
		{name: "regenerate asked", damage: func(t *testing.T, dir string) {
			writeKeyFile(t, dir, []byte("not a key"))
		}, opts: KeyOptions{Regenerate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			s := startSupervisor(t, cfg)
			old := s.Status().Address
			s.Stop()

			tt.damage(t, cfg.ServiceDir())
			s2, err := NewSupervisor(cfg, WithKeyOptions(tt.opts))
			if err != nil {
				t.Fatal(err)
			}
			err = s2.Start()
			t.Cleanup(s2.Stop)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && s2.Status().Address == old {
				t.Fatalf("got the old address after regeneration, want a new one")
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSuffix(old, ".onion")) {
				t.Fatalf("error %q names the address", err)
			}
		})
	}
}

func writeKeyFile(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, secretKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestKilledTorIsRestarted(t *testing.T) {
	cfg := testConfig(t)
	var waits []time.Duration
	fire := func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	s := startSupervisor(t, cfg, WithClock(time.Now, fire), WithBackoff(time.Second, 4*time.Second))
	before := s.Status()

	for i := 1; i <= 2; i++ {
		pid := s.Status().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		after, err := s.Await(ctx, func(st Status) bool { return st.Restarts == i && st.Running })
		cancel()
		if err != nil {
			t.Fatalf("waiting for restart %d: %v (status %+v)", i, err, after)
		}
		if after.PID == pid {
			t.Fatalf("got the same pid %d after the kill, want a new process", pid)
		}
		if after.Address != before.Address {
			t.Fatalf("got address %q after restart, want %q", after.Address, before.Address)
		}
	}
	if len(waits) != 2 || waits[0] != time.Second || waits[1] != 2*time.Second {
		t.Fatalf("got backoff %v, want [1s 2s]", waits)
	}
}

func TestDataDirLock(t *testing.T) {
	cfg := testConfig(t)
	s := startSupervisor(t, cfg)
	defer s.Stop()

	// a second tor on the same data directory cannot take the lock
	s2, err := NewSupervisor(cfg, WithLockRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Start()
	s2.Stop()
	if !errors.Is(err, errDataDirLocked) {
		t.Fatalf("got error %v for a second tor on one data directory, want %v", err, errDataDirLocked)
	}

	// the first tor goes away while the third waits for it
	core, logs := observer.New(zap.WarnLevel)
	s3, err := NewSupervisor(cfg, WithLockRetries(3), WithLogger(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- s3.Start() }()
	for logs.FilterMessageSnippet("in use").Len() == 0 {
		select {
		case err := <-started:
			t.Fatalf("got start result %v before any wait, want a wait for the lock", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.Stop()
	if err := <-started; err != nil {
		t.Fatalf("got error %v after the first tor stopped, want none", err)
	}
	s3.Stop()
}
