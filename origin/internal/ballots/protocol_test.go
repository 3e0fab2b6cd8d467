package ballots

import (
	"bytes"
	"errors"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	m := Message{BallotID: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", Choice: 3}
	for i := range m.Nullifier {
		m.Nullifier[i] = byte(i)
	}
	msg, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != MessageSize {
		t.Fatalf("length: got %d, want %d", len(msg), MessageSize)
	}
	prepared := append(bytes.Repeat([]byte{9}, PrefixSize), msg...)
	got, err := ParsePrepared(prepared)
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Errorf("parsed: got %+v, want %+v", got, m)
	}
}

func TestParsePreparedRefuses(t *testing.T) {
	m := Message{BallotID: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11"}
	msg, _ := m.Encode()
	good := append(make([]byte, PrefixSize), msg...)
	wrongDomain := bytes.Clone(good)
	wrongDomain[PrefixSize] ^= 1
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "short", in: good[:len(good)-1]},
		{name: "long", in: append(bytes.Clone(good), 0)},
		{name: "no prefix", in: msg},
		{name: "wrong domain", in: wrongDomain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePrepared(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{name: "upper-case id", m: Message{BallotID: "0B6F1C7E-3F0A-4A57-9C43-2F1D9A3F7E11"}},
		{name: "short id", m: Message{BallotID: "0b6f1c7e"}},
		{name: "negative choice", m: Message{BallotID: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", Choice: -1}},
		{name: "huge choice", m: Message{BallotID: "0b6f1c7e-3f0a-4a57-9c43-2f1d9a3f7e11", Choice: 1 << 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.m.Encode(); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeBytesIsStrict(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "canonical", in: "AAEC", ok: true},
		{name: "padding", in: "AAE=", ok: false},
		{name: "std alphabet", in: "+/+/", ok: false},
		{name: "stray bits", in: "AAF", ok: false},
		{name: "newline", in: "AA\nEC", ok: false},
		{name: "too long", in: "AAAAAAAAAAAA", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBytes(tt.in, 6)
			if (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
