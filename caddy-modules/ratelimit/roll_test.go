package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRoll(t *testing.T) {
	const period = 60
	tests := []struct {
		name              string
		prev, cur, start  int64
		now               int64
		wantPrev, wantCur int64
		wantStart         int64
	}{
		{name: "same window", prev: 2, cur: 3, start: 120, now: 150, wantPrev: 2, wantCur: 3, wantStart: 120},
		{name: "next window", prev: 2, cur: 3, start: 120, now: 185, wantPrev: 3, wantCur: 0, wantStart: 180},
		{name: "a window skipped", prev: 2, cur: 3, start: 120, now: 245, wantPrev: 0, wantCur: 0, wantStart: 240},
		// a request that started before the window moved must not reset it
		{name: "earlier window", prev: 2, cur: 3, start: 180, now: 170, wantPrev: 2, wantCur: 3, wantStart: 180},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c, s := roll(tt.prev, tt.cur, tt.start, tt.now, period)
			if p != tt.wantPrev || c != tt.wantCur || s != tt.wantStart {
				t.Fatalf("got %d %d %d, want %d %d %d", p, c, s, tt.wantPrev, tt.wantCur, tt.wantStart)
			}
		})
	}
}

func TestPauseIgnoresCancelledCallers(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name      string
		err       error
		wantPause bool
	}{
		{name: "connection failure", err: errors.New("dial tcp: connection refused"), wantPause: true},
		{name: "caller cancelled", err: fmt.Errorf("decide: %w", context.Canceled), wantPause: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pause
			p.failed(tt.err, now)
			if got := p.active(now); got != tt.wantPause {
				t.Fatalf("paused: got %v, want %v", got, tt.wantPause)
			}
		})
	}
}
