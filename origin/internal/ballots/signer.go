package ballots

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/picket-edge/picket/origin/internal/keys"
)

// DefaultKeyBits is the size of each unlinkable ballot's RSA key.
const DefaultKeyBits = 3072

// SigningKeyName is the key-manager key that seals ballot private keys.
const SigningKeyName = "ballot-signing"

var (
	// ErrBadSignature is returned for a signature that is not canonical
	// (wrong length, not below the modulus) or does not verify.
	ErrBadSignature = errors.New("invalid signature")
	// ErrBadBlindedMessage is returned for a blinded message of the wrong
	// length or not below the modulus.
	ErrBadBlindedMessage = errors.New("invalid blinded message")
)

// KeyGenerator makes a ballot's RSA key. Production uses
// GenerateKey(DefaultKeyBits); tests may pass a faster one.
type KeyGenerator func() (*rsa.PrivateKey, error)

// GenerateKey returns a generator of RSA keys of bits bits.
func GenerateKey(bits int) KeyGenerator {
	return func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

// PublicKey is an unlinkable ballot's verification key.
type PublicKey struct {
	key *rsa.PublicKey
	der []byte // PKIX (SubjectPublicKeyInfo) DER, as published
}

// ParsePublicKey reads a PKIX DER RSA public key.
func ParsePublicKey(der []byte) (*PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing ballot public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("parsing ballot public key: not an RSA key")
	}
	return &PublicKey{key: rk, der: der}, nil
}

// DER returns the PKIX DER encoding.
func (p *PublicKey) DER() []byte { return p.der }

// RSA returns the key itself.
func (p *PublicKey) RSA() *rsa.PublicKey { return p.key }

// ID is the hex SHA-256 of the DER encoding: the fingerprint clients
// compare across connections to spot a key made for them alone.
func (p *PublicKey) ID() string {
	sum := sha256.Sum256(p.der)
	return hex.EncodeToString(sum[:])
}

// Size is the modulus length in bytes: the length of every blinded
// message, blind signature and signature.
func (p *PublicKey) Size() int { return p.key.Size() }

// Verify checks a vote's signature over the prepared message. Only the
// canonical encoding passes: exactly Size bytes, an integer in [1, n).
// Any other byte string for the same RSA value (a shorter or longer
// encoding, s+n) is refused before the RSA check.
func (p *PublicKey) Verify(prepared, sig []byte) error {
	if len(sig) != p.Size() {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrBadSignature, len(sig), p.Size())
	}
	s := new(big.Int).SetBytes(sig)
	if s.Sign() == 0 || s.Cmp(p.key.N) >= 0 {
		return fmt.Errorf("%w: not in [1, n)", ErrBadSignature)
	}
	v, err := blindrsa.NewVerifier(variant, p.key)
	if err != nil {
		return err
	}
	if err := v.Verify(prepared, sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// signer is an opened ballot private key.
type signer struct {
	pub    *PublicKey
	signer blindrsa.Signer
}

// blindSign signs a blinded message (RFC 9474 BlindSign).
func (s *signer) blindSign(blinded []byte) ([]byte, error) {
	if len(blinded) != s.pub.Size() {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrBadBlindedMessage,
			len(blinded), s.pub.Size())
	}
	if new(big.Int).SetBytes(blinded).Cmp(s.pub.key.N) >= 0 {
		return nil, fmt.Errorf("%w: not below the modulus", ErrBadBlindedMessage)
	}
	return s.signer.BlindSign(blinded)
}

// newKeyPair makes a key, seals its private half under the key manager
// with the ballot id as AAD, and returns the public DER and the sealed key.
func newKeyPair(ctx context.Context, km keys.Manager, gen KeyGenerator, ballotID string,
) (pubDER []byte, sealed string, err error) {
	sk, err := gen()
	if err != nil {
		return nil, "", fmt.Errorf("generating ballot key: %w", err)
	}
	pubDER, err = x509.MarshalPKIXPublicKey(&sk.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("encoding ballot public key: %w", err)
	}
	skDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return nil, "", fmt.Errorf("encoding ballot private key: %w", err)
	}
	sealed, err = km.Encrypt(ctx, SigningKeyName, skDER, sealAAD(ballotID))
	clear(skDER)
	if err != nil {
		return nil, "", fmt.Errorf("sealing ballot private key: %w", err)
	}
	return pubDER, sealed, nil
}

func sealAAD(ballotID string) []byte { return []byte("picket ballot key|" + ballotID) }

// openSigner unseals a ballot's private key and checks it matches the
// published public key.
func openSigner(ctx context.Context, km keys.Manager, ballotID, sealed string, pub *PublicKey,
) (*signer, error) {
	skDER, err := km.Decrypt(ctx, SigningKeyName, sealed, sealAAD(ballotID))
	if err != nil {
		return nil, fmt.Errorf("unsealing ballot private key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(skDER)
	clear(skDER)
	if err != nil {
		return nil, fmt.Errorf("parsing ballot private key: %w", err)
	}
	sk, ok := k.(*rsa.PrivateKey)
	if !ok || !sk.PublicKey.Equal(pub.key) {
		return nil, errors.New("ballot private key does not match its public key")
	}
	return &signer{pub: pub, signer: blindrsa.NewSigner(sk)}, nil
}
