package wasmpolicy

import (
	"sync"
	"time"
)

// Backoff settings for a guest that keeps failing.
const (
	failureThreshold = 5                      // consecutive failures before backing off
	backoffBase      = 100 * time.Millisecond // first pause
	backoffMax       = 30 * time.Second       // longest pause
	failureLogEvery  = 10 * time.Second       // at most one failure log line per period
)

// breaker tracks consecutive guest failures. After failureThreshold of
// them in a row it stops running the guest for a pause that doubles with
// every further failure (the failure policy answers meanwhile); one
// success resets it. It also paces the failure log.
type breaker struct {
	mu          sync.Mutex
	consecutive int
	openUntil   time.Time
	pause       time.Duration
	lastLog     time.Time
	suppressed  int
}

// allow reports whether the guest may run at now.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.openUntil)
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.consecutive = 0
	b.pause = 0
}

// failure records a failure at now. It returns whether to log it, and if
// so how many failures went unlogged since the last line.
// A failure that is not the guest's fault (count false: every instance was
// busy) is logged but does not count towards backing off.
func (b *breaker) failure(now time.Time, count bool) (logIt bool, suppressed, consecutive int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if count {
		b.consecutive++
	}
	if count && b.consecutive >= failureThreshold {
		if b.pause == 0 {
			b.pause = backoffBase
		} else {
			b.pause = min(2*b.pause, backoffMax)
		}
		b.openUntil = now.Add(b.pause)
	}
	if !b.lastLog.IsZero() && now.Sub(b.lastLog) < failureLogEvery {
		b.suppressed++
		return false, 0, b.consecutive
	}
	b.lastLog = now
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed, b.consecutive
}

// skipped paces the log line for requests answered while backing off.
func (b *breaker) skipped(now time.Time) (logIt bool, suppressed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.lastLog.IsZero() && now.Sub(b.lastLog) < failureLogEvery {
		b.suppressed++
		return false, 0
	}
	b.lastLog = now
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}
