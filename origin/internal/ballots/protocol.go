package ballots

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// The wire format of an unlinkable vote; docs/voting-protocol.md is the
// reference for app developers and must change with this file.
const (
	// Variant names the RFC 9474 variant every unlinkable ballot uses.
	Variant = "RSABSSA-SHA384-PSS-Randomized"

	// Domain opens every vote message, so a signature made for a picket
	// vote can never be replayed as anything else, or the reverse.
	Domain = "picket-ballot-v1"

	// PrefixSize is the random prefix the Randomized variant's Prepare
	// step puts before the message.
	PrefixSize = 32
	// NullifierSize is the length of the random nullifier.
	NullifierSize = 32

	// MessageSize is the length of a vote message before Prepare:
	// domain, ballot id, nullifier, choice.
	MessageSize = len(Domain) + 16 + NullifierSize + 2
	// PreparedSize is the length of the prepared message a vote carries.
	PreparedSize = PrefixSize + MessageSize
)

const variant = blindrsa.SHA384PSSRandomized

// ErrMalformed is returned for a vote message that is not in the format.
var ErrMalformed = errors.New("malformed vote message")

// Message is the content of an unlinkable vote.
type Message struct {
	BallotID  string // UUID, canonical lowercase form
	Nullifier [NullifierSize]byte
	Choice    int
}

// Encode returns the message before Prepare: Domain, the 16 bytes of the
// ballot id, the nullifier, the choice as a big-endian uint16.
func (m Message) Encode() ([]byte, error) {
	id, err := uuidBytes(m.BallotID)
	if err != nil {
		return nil, err
	}
	if m.Choice < 0 || m.Choice > 0xffff {
		return nil, fmt.Errorf("%w: choice %d out of range", ErrMalformed, m.Choice)
	}
	b := make([]byte, 0, MessageSize)
	b = append(b, Domain...)
	b = append(b, id[:]...)
	b = append(b, m.Nullifier[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(m.Choice))
	return b, nil
}

// ParsePrepared reads a prepared message (random prefix and message). It
// accepts exactly one byte string per message: fixed length, fixed domain.
func ParsePrepared(prepared []byte) (Message, error) {
	var m Message
	if len(prepared) != PreparedSize {
		return m, fmt.Errorf("%w: got %d bytes, want %d", ErrMalformed, len(prepared), PreparedSize)
	}
	rest := prepared[PrefixSize:]
	if !bytes.HasPrefix(rest, []byte(Domain)) {
		return m, fmt.Errorf("%w: wrong domain", ErrMalformed)
	}
	rest = rest[len(Domain):]
	m.BallotID = formatUUID(rest[:16])
	rest = rest[16:]
	copy(m.Nullifier[:], rest[:NullifierSize])
	m.Choice = int(binary.BigEndian.Uint16(rest[NullifierSize:]))
	return m, nil
}

// uuidBytes parses the canonical 36-character form of a UUID.
func uuidBytes(s string) ([16]byte, error) {
	var out [16]byte
	if !ValidID(s) {
		return out, fmt.Errorf("%w: ballot id %q is not a UUID", ErrMalformed, s)
	}
	_, err := hex.Decode(out[:], []byte(strings.ReplaceAll(s, "-", "")))
	return out, err
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ValidID reports whether s is a UUID in canonical lowercase form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// b64 is the encoding of every byte string on the wire: base64url without
// padding, strict (no stray bits, no line breaks).
var b64 = base64.RawURLEncoding.Strict()

// EncodeBytes encodes a byte string for the wire.
func EncodeBytes(b []byte) string { return b64.EncodeToString(b) }

// DecodeBytes decodes a wire byte string of at most maxLen bytes.
func DecodeBytes(s string, maxLen int) ([]byte, error) {
	if len(s) > b64.EncodedLen(maxLen) {
		return nil, fmt.Errorf("%w: value too long", ErrMalformed)
	}
	// the decoder skips line breaks even in strict mode; refuse them here
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_') {
			return nil, fmt.Errorf("%w: not base64url without padding", ErrMalformed)
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url without padding", ErrMalformed)
	}
	return b, nil
}
