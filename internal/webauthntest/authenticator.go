// Package webauthntest is a software WebAuthn authenticator for tests,
// written from the WebAuthn Level 3 specification: ES256 keys, "none"
// attestation, discoverable credentials. It answers the JSON options a
// relying party sends (navigator.credentials.create/get) with the JSON a
// browser would post back, and lets a test bend what a real one would not
// (origin, RP ID, counter, backup flags).
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator flag bits (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Authenticator holds credentials like a platform authenticator.
type Authenticator struct {
	// Origin is what clientDataJSON declares (a browser's page origin).
	Origin string
	// RPIDOverride, if set, replaces the RP ID the options ask for in the
	// rpIdHash (to test a wrong RP ID).
	RPIDOverride string
	// BackupEligible and BackupState set the BE and BS flags (a synced
	// passkey has both). BackupState may change between ceremonies.
	BackupEligible, BackupState bool
	// Counting makes the signature counter advance on each assertion; a
	// synced passkey leaves it at 0.
	Counting bool

	Credentials []*Credential
}

// Credential is one key pair the authenticator made.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	Counter    uint32
}

var b64 = base64.RawURLEncoding

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Create answers navigator.credentials.create options (the JSON object
// with a "publicKey" member) with a new credential.
func (a *Authenticator) Create(options []byte) ([]byte, *Credential, error) {
	var opt creationOptions
	if err := json.Unmarshal(options, &opt); err != nil {
		return nil, nil, fmt.Errorf("parsing creation options: %w", err)
	}
	handle, err := b64.DecodeString(opt.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cred := &Credential{ID: make([]byte, 32), Key: key, RPID: opt.PublicKey.RP.ID, UserHandle: handle}
	if _, err := rand.Read(cred.ID); err != nil {
		return nil, nil, err
	}

	clientData := a.clientData("webauthn.create", opt.PublicKey.Challenge)
	authData, err := a.authData(cred, flagAT, true)
	if err != nil {
		return nil, nil, err
	}
	attObj, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": authData,
	})
	if err != nil {
		return nil, nil, err
	}

	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(cred.ID), "rawId": b64.EncodeToString(cred.ID),
		"type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{},
	})
	if err != nil {
		return nil, nil, err
	}
	a.Credentials = append(a.Credentials, cred)
	return out, cred, nil
}

// Get answers navigator.credentials.get options with an assertion by the
// first matching credential (or by use, if not nil).
func (a *Authenticator) Get(options []byte, use *Credential) ([]byte, error) {
	var opt requestOptions
	if err := json.Unmarshal(options, &opt); err != nil {
		return nil, fmt.Errorf("parsing request options: %w", err)
	}
	cred := use
	if cred == nil {
		cred = a.pick(opt)
	}
	if cred == nil {
		return nil, errors.New("no credential for this relying party")
	}
	if a.Counting {
		cred.Counter++
	}

	clientData := a.clientData("webauthn.get", opt.PublicKey.Challenge)
	authData, err := a.authData(cred, 0, false)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(clientData)
	signed := sha256.Sum256(append(append([]byte{}, authData...), digest[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, signed[:])
	if err != nil {
		return nil, err
	}

	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(cred.ID), "rawId": b64.EncodeToString(cred.ID),
		"type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(clientData),
			"authenticatorData": b64.EncodeToString(authData),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

func (a *Authenticator) pick(opt requestOptions) *Credential {
	for _, c := range a.Credentials {
		if c.RPID != opt.PublicKey.RPID {
			continue
		}
		if len(opt.PublicKey.AllowCredentials) == 0 {
			return c
		}
		for _, allowed := range opt.PublicKey.AllowCredentials {
			if allowed.ID == b64.EncodeToString(c.ID) {
				return c
			}
		}
	}
	return nil
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false,
	})
	return b
}

// authData builds authenticator data (§6.1); with attested it appends the
// credential id and its COSE public key.
func (a *Authenticator) authData(c *Credential, extra byte, attested bool) ([]byte, error) {
	rpID := c.RPID
	if a.RPIDOverride != "" {
		rpID = a.RPIDOverride
	}
	rpHash := sha256.Sum256([]byte(rpID))

	flags := byte(flagUP|flagUV) | extra
	if a.BackupEligible {
		flags |= flagBE
	}
	if a.BackupState {
		flags |= flagBS
	}
	out := append([]byte{}, rpHash[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, c.Counter)
	if !attested {
		return out, nil
	}

	out = append(out, make([]byte, 16)...) // AAGUID: zero, as "none" attestation allows
	out = binary.BigEndian.AppendUint16(out, uint16(len(c.ID)))
	out = append(out, c.ID...)
	pub, err := c.Key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{
		1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65],
	})
	if err != nil {
		return nil, err
	}
	return append(out, cose...), nil
}
