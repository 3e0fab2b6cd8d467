package ballots

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/picket-edge/picket/internal/pgtest"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/database/dbtest"
	"github.com/picket-edge/picket/origin/internal/keys"
)

// benchStore is a Store on a fresh database with one open unlinkable
// ballot under a production-size (3072-bit) key.
func benchStore(b *testing.B) (*Store, *Ballot, *rsa.PrivateKey) {
	b.Helper()
	urls := dbtest.Setup(b, map[string]*pgtest.Cluster{"": pgtest.Start(b)})
	pools := dbtest.Open(b, urls)
	km, err := keys.OpenKeyring(filepath.Join(b.TempDir(), "keyring"), make([]byte, keys.MasterKeySize))
	if err != nil {
		b.Fatal(err)
	}
	sk, err := rsa.GenerateKey(rand.Reader, DefaultKeyBits)
	if err != nil {
		b.Fatal(err)
	}
	s := New(pools["ballot"], km, WithKeyGenerator(func() (*rsa.PrivateKey, error) { return sk, nil }))
	now := time.Now()
	bl := &Ballot{
		ID: accounts.NewID(), UnionID: accounts.NewID(), Question: "bench?",
		Options: []string{"yes", "no"}, Mode: ModeUnlinkable,
		OpensAt: now.Add(-time.Hour), ClosesAt: now.Add(time.Hour),
	}
	if err := s.Create(context.Background(), bl); err != nil {
		b.Fatal(err)
	}
	return s, bl, sk
}

// BenchmarkIssueToken is the server's work per token: keyed hashes, the
// issuance look-up and insert, and the RSA-3072 blind signature. Each
// iteration is a new member.
func BenchmarkIssueToken(b *testing.B) {
	s, bl, _ := benchStore(b)
	ctx := context.Background()
	blinded := make([]byte, bl.PublicKey.Size())
	blinded[1] = 1
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = accounts.NewID()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.IssueToken(ctx, bl, ids[i], blinded, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkVote is the server's work per unlinkable vote: parse, canonical
// check, RSA-PSS verification and the nullifier insert.
func BenchmarkVote(b *testing.B) {
	s, bl, sk := benchStore(b)
	ctx := context.Background()
	type token struct{ prepared, sig []byte }
	tokens := make([]token, b.N)
	for i := range tokens {
		m := Message{BallotID: bl.ID, Choice: i % 2}
		_, _ = rand.Read(m.Nullifier[:])
		msg, _ := m.Encode()
		prepared := append(make([]byte, PrefixSize), msg...)
		_, _ = rand.Read(prepared[:PrefixSize])
		// an unblinded token is an RSASSA-PSS signature (SHA-384, 48-byte salt)
		digest := sha512.Sum384(prepared)
		sig, err := rsa.SignPSS(rand.Reader, sk, crypto.SHA384, digest[:],
			&rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = token{prepared, sig}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.VoteUnlinkable(ctx, bl, tokens[i].prepared, tokens[i].sig, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "votes/s")
}

// BenchmarkCrypto is the RSA work alone, the ceiling per core.
func BenchmarkCrypto(b *testing.B) {
	sk, err := rsa.GenerateKey(rand.Reader, DefaultKeyBits)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&sk.PublicKey)
	pub, _ := ParsePublicKey(der)
	sg := &signer{pub: pub, signer: blindrsa.NewSigner(sk)}
	blinded := make([]byte, pub.Size())
	blinded[1] = 1
	b.Run("blind sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := sg.blindSign(blinded); err != nil {
				b.Fatal(err)
			}
		}
	})
	prepared := make([]byte, PreparedSize)
	digest := sha512.Sum384(prepared)
	sig, _ := rsa.SignPSS(rand.Reader, sk, crypto.SHA384, digest[:],
		&rsa.PSSOptions{SaltLength: 48, Hash: crypto.SHA384})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := pub.Verify(prepared, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
