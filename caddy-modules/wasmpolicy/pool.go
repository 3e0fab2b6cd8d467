package wasmpolicy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// errPoolWait is returned when no instance became free before the request's
// deadline.
var errPoolWait = errors.New("no guest instance free before the deadline")

// instance is one instantiated guest. It serves one request at a time.
type instance struct {
	mod            api.Module
	handleRequest  api.Function
	handleResponse api.Function
	lastUsed       time.Time
}

func (in *instance) close() {
	_ = in.mod.Close(context.Background())
}

// pool holds at most size guest instances, busy and idle together. Idle
// instances are reused newest first, so that the oldest go idle long enough
// for reclaim to close them when traffic drops.
type pool struct {
	create func() (*instance, error)
	slots  chan struct{} // one token per live-or-creatable instance in use

	mu     sync.Mutex
	idle   []*instance
	closed bool

	created   atomic.Int64
	discarded atomic.Int64
	reclaimed atomic.Int64
}

func newPool(size int, create func() (*instance, error)) *pool {
	return &pool{create: create, slots: make(chan struct{}, size)}
}

// get returns an instance, waiting for a free slot until ctx is done.
func (p *pool) get(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errPoolWait
	}
	if in := p.popIdle(); in != nil {
		return in, nil
	}
	in, err := p.create()
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.created.Add(1)
	return in, nil
}

func (p *pool) popIdle() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	in := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return in
}

// put returns in to the pool. An instance that failed (trapped, timed out,
// was closed by its deadline) is closed and never handed out again.
func (p *pool) put(in *instance, healthy bool, now time.Time) {
	defer func() { <-p.slots }()
	if healthy && !in.mod.IsClosed() {
		in.lastUsed = now
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, in)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	} else {
		p.discarded.Add(1)
	}
	in.close()
}

// refill creates one idle instance if a slot is free, so that the request
// after a discarded instance does not pay for instantiation.
func (p *pool) refill(now time.Time) {
	select {
	case p.slots <- struct{}{}:
	default:
		return
	}
	defer func() { <-p.slots }()
	p.mu.Lock()
	enough := p.closed || len(p.idle) > 0
	p.mu.Unlock()
	if enough {
		return
	}
	in, err := p.create()
	if err != nil {
		return
	}
	p.created.Add(1)
	in.lastUsed = now
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		in.close()
		return
	}
	p.idle = append(p.idle, in)
}

// reclaim closes idle instances last used before cutoff.
func (p *pool) reclaim(cutoff time.Time) {
	p.mu.Lock()
	var old []*instance
	keep := p.idle[:0]
	for _, in := range p.idle {
		if in.lastUsed.Before(cutoff) {
			old = append(old, in)
		} else {
			keep = append(keep, in)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, in := range old {
		in.close()
		p.reclaimed.Add(1)
	}
}

// close closes the idle instances; busy ones are closed as they come back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, in := range idle {
		in.close()
	}
}

// idleCount is for tests and stats.
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
