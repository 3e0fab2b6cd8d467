package ballotclient

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"testing"
)

// TestRFC9474Vector runs the client's Prepare, Blind and Finalize on RFC
// 9474's RSABSSA-SHA384-PSS-Randomized vector, with the vector's prefix,
// salt and blinding factor as the randomness.
func TestRFC9474Vector(t *testing.T) {
	raw, err := os.ReadFile("../internal/ballots/testdata/rfc9474_a1.json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	num := func(k string) *big.Int {
		n, ok := new(big.Int).SetString(v[k], 16)
		if !ok {
			t.Fatalf("vector %s: bad hex", k)
		}
		return n
	}
	bytesOf := func(k string) []byte {
		b, err := hex.DecodeString(v[k])
		if err != nil {
			t.Fatalf("vector %s: %v", k, err)
		}
		return b
	}
	pk := &rsa.PublicKey{N: num("n"), E: int(num("e").Int64())}

	// Blind draws r, the inverse of the vector's inv, as k bytes
	r := new(big.Int).ModInverse(num("inv"), pk.N)
	random := bytes.NewReader(bytes.Join([][]byte{
		bytesOf("msg_prefix"), bytesOf("salt"), r.FillBytes(make([]byte, pk.Size())),
	}, nil))

	req, err := blindMessage(pk, bytesOf("msg"), random)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.prepared, bytesOf("input_msg")) {
		t.Errorf("prepared: got %x, want %s", req.prepared, v["input_msg"])
	}
	if !bytes.Equal(req.Blinded(), bytesOf("blinded_msg")) {
		t.Errorf("blinded: got %x, want %s", req.Blinded(), v["blinded_msg"])
	}
	vote, err := req.Finalize(bytesOf("blind_sig"))
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if !bytes.Equal(vote.Signature, bytesOf("sig")) {
		t.Errorf("signature: got %x, want %s", vote.Signature, v["sig"])
	}

	// a blind signature from another key fails finalisation
	bad := bytesOf("blind_sig")
	bad[len(bad)-1] ^= 1
	if _, err := req.Finalize(bad); err == nil {
		t.Error("finalize of an altered blind signature: got nil, want an error")
	}
}
