package ratelimit

import (
	"testing"
	"time"
)

func TestKeyerDailyRotation(t *testing.T) {
	day1 := time.Date(2026, 12, 4, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(2 * time.Second)
	tests := []struct {
		name   string
		master []byte
	}{
		{"configured secret", []byte("shared")},
		{"random secret", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeyer(tt.master)
			a1, _, _ := k.hash("z", "192.0.2.1", day1, false)
			a1again, _, _ := k.hash("z", "192.0.2.1", day1.Add(-time.Hour), false)
			if a1 != a1again {
				t.Fatalf("same day: got two hashes, want one")
			}
			if other, _, _ := k.hash("y", "192.0.2.1", day1, false); other == a1 {
				t.Fatalf("other zone: got the same hash, want a different one")
			}

			a2, prev, ok := k.hash("z", "192.0.2.1", day2, true)
			if a2 == a1 {
				t.Fatalf("next day: got the same hash, want a new one")
			}
			if !ok || prev != a1 {
				t.Fatalf("next day: got prev=%v ok=%v, want yesterday's hash", prev, ok)
			}

			// a late caller still on yesterday's clock does not rotate back.
			late, _, _ := k.hash("z", "192.0.2.1", day1, false)
			if late != a1 {
				t.Fatalf("late caller: got a different hash for yesterday")
			}
			if again, _, _ := k.hash("z", "192.0.2.1", day2, false); again != a2 {
				t.Fatalf("after a late caller: today's hash changed")
			}
		})
	}

	// instances with one configured secret agree; random secrets do not.
	x, _, _ := newKeyer([]byte("s")).hash("z", "k", day1, false)
	y, _, _ := newKeyer([]byte("s")).hash("z", "k", day1, false)
	if x != y {
		t.Fatalf("two instances, one secret: got different hashes, want equal")
	}
	r1, _, _ := newKeyer(nil).hash("z", "k", day1, false)
	r2, _, _ := newKeyer(nil).hash("z", "k", day1, false)
	if r1 == r2 {
		t.Fatalf("two random keyers: got equal hashes, want different")
	}
}

func TestParseKeyHash(t *testing.T) {
	k, _, _ := newKeyer([]byte("s")).hash("z", "k", t0, false)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"round trip", k.String(), true},
		{"short", "abcd", false},
		{"not hex", "zz" + k.String()[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseKeyHash(tt.in)
			if ok != tt.ok || (ok && got != k) {
				t.Fatalf("got %v %v, want ok=%v", got, ok, tt.ok)
			}
		})
	}
}
