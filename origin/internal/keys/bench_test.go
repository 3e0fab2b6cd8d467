package keys_test

import (
	"context"
	"testing"

	"github.com/picket-edge/picket/origin/internal/keys"
)

func BenchmarkKeyring(b *testing.B) {
	ctx := context.Background()
	k, err := keys.OpenKeyring(b.TempDir(), testMaster(9))
	if err != nil {
		b.Fatal(err)
	}
	data := []byte("member|0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11|5d1c0f3e-2b7a-4c1e-8f7d-3a9b6c2e1f00")
	ct, _ := k.Encrypt(ctx, "bench", data, nil)
	_ = k.Rotate(ctx, "bench")

	b.Run("HMAC", func(b *testing.B) {
		for b.Loop() {
			_, _ = k.HMAC(ctx, "bench", data)
		}
	})
	b.Run("HMACAll two versions", func(b *testing.B) {
		for b.Loop() {
			_, _ = k.HMACAll(ctx, "bench", data)
		}
	})
	b.Run("Decrypt", func(b *testing.B) {
		for b.Loop() {
			_, _ = k.Decrypt(ctx, "bench", ct, nil)
		}
	})
}
