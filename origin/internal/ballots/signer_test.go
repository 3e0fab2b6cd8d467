package ballots

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// rfcVector is RFC 9474's test vector for RSABSSA-SHA384-PSS-Randomized,
// hex strings as in the RFC.
type rfcVector struct {
	P           string `json:"p"`
	Q           string `json:"q"`
	N           string `json:"n"`
	E           string `json:"e"`
	D           string `json:"d"`
	RawMsg      string `json:"msg"`
	RawPrefix   string `json:"msg_prefix"`
	RawInput    string `json:"input_msg"`
	RawSalt     string `json:"salt"`
	RawInv      string `json:"inv"`
	RawBlinded  string `json:"blinded_msg"`
	RawBlindSig string `json:"blind_sig"`
	RawSig      string `json:"sig"`
}

func loadVector(t *testing.T) (rfcVector, *rsa.PrivateKey) {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc9474_a1.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	sk := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: hexInt(t, v.N), E: int(hexInt(t, v.E).Int64())},
		D:         hexInt(t, v.D),
		Primes:    []*big.Int{hexInt(t, v.P), hexInt(t, v.Q)},
	}
	sk.Precompute()
	if err := sk.Validate(); err != nil {
		t.Fatalf("vector key: %v", err)
	}
	return v, sk
}

func hexInt(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return n
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vectorKeys(t *testing.T) (rfcVector, *signer) {
	t.Helper()
	v, sk := loadVector(t)
	pub := &PublicKey{key: &sk.PublicKey}
	return v, &signer{pub: pub, signer: blindrsa.NewSigner(sk)}
}

// TestRFC9474Vector feeds the RFC's vector through the server's wrappers:
// BlindSign gives the RFC's blind signature, Verify accepts the RFC's
// signature over the prepared message. The client side runs in
// ballotclient's test.
func TestRFC9474Vector(t *testing.T) {
	v, sg := vectorKeys(t)
	got, err := sg.blindSign(unhex(t, v.RawBlinded))
	if err != nil {
		t.Fatalf("blind sign: %v", err)
	}
	if want := unhex(t, v.RawBlindSig); !bytes.Equal(got, want) {
		t.Errorf("blind signature: got %x, want %x", got, want)
	}
	input := unhex(t, v.RawInput)
	if !bytes.Equal(input, append(unhex(t, v.RawPrefix), unhex(t, v.RawMsg)...)) {
		t.Fatal("vector: input_msg is not msg_prefix || msg")
	}
	if err := sg.pub.Verify(input, unhex(t, v.RawSig)); err != nil {
		t.Errorf("verify: got %v, want nil", err)
	}
}

// TestNonCanonicalSignatures: only the one canonical encoding of a valid
// signature passes; every other byte string for the same value, and every
// altered value, is refused.
func TestNonCanonicalSignatures(t *testing.T) {
	v, sg := vectorKeys(t)
	input, sig := unhex(t, v.RawInput), unhex(t, v.RawSig)
	n := sg.pub.key.N
	k := sg.pub.Size()

	plusN := new(big.Int).Add(new(big.Int).SetBytes(sig), n).Bytes()
	flipped := bytes.Clone(sig)
	flipped[k-1] ^= 1
	tests := []struct {
		name string
		sig  []byte
	}{
		{name: "s + n", sig: plusN},
		{name: "s + n padded to k bytes", sig: padTo(plusN, k)},
		{name: "leading zero added", sig: append([]byte{0}, sig...)},
		{name: "trailing byte added", sig: append(bytes.Clone(sig), 0)},
		{name: "last byte cut", sig: sig[:k-1]},
		{name: "modulus itself", sig: n.FillBytes(make([]byte, k))},
		{name: "all ones", sig: bytes.Repeat([]byte{0xff}, k)},
		{name: "zero", sig: make([]byte, k)},
		{name: "bit flipped", sig: flipped},
		{name: "empty", sig: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sg.pub.Verify(input, tt.sig)
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("got %v, want ErrBadSignature", err)
			}
		})
	}
	if err := sg.pub.Verify(append(bytes.Clone(input), 0), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other message: got %v, want ErrBadSignature", err)
	}
}

func padTo(b []byte, k int) []byte {
	if len(b) >= k {
		return b
	}
	return append(make([]byte, k-len(b)), b...)
}

func TestBlindSignRefusesBadInput(t *testing.T) {
	v, sg := vectorKeys(t)
	k := sg.pub.Size()
	blinded := unhex(t, v.RawBlinded)
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "short", in: blinded[1:]},
		{name: "long", in: append([]byte{0}, blinded...)},
		{name: "modulus", in: sg.pub.key.N.FillBytes(make([]byte, k))},
		{name: "above modulus", in: bytes.Repeat([]byte{0xff}, k)},
		{name: "empty", in: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sg.blindSign(tt.in); !errors.Is(err, ErrBadBlindedMessage) {
				t.Errorf("got %v, want ErrBadBlindedMessage", err)
			}
		})
	}
}

// TestDefaultKeySize: a Store without options makes 3072-bit keys; only
// WithKeyGenerator changes that.
func TestDefaultKeySize(t *testing.T) {
	s := New(nil, nil)
	sk, err := s.keygen()
	if err != nil {
		t.Fatal(err)
	}
	if got := sk.N.BitLen(); got != DefaultKeyBits || DefaultKeyBits != 3072 {
		t.Errorf("key size: got %d (default %d), want 3072", got, DefaultKeyBits)
	}
}
