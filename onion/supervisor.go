package onion

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/process"
	"github.com/cretz/bine/tor"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/internal/logfield"
)

// errDataDirLocked means another tor runs on the data directory.
var errDataDirLocked = errors.New("another tor process uses the data directory")

// Status is what the supervisor knows about its tor.
type Status struct {
	// Address is the onion address ("....onion").
	Address string

	// Running reports whether tor is up with an authenticated control
	// connection.
	Running bool

	// PID of the current tor process, 0 when none runs.
	PID int

	// Bootstrap is tor's last reported bootstrap progress in percent.
	Bootstrap int

	// DescriptorsUploaded counts descriptor uploads tor reported as done
	// since the current process started; above zero the service is
	// reachable.
	DescriptorsUploaded int

	// Restarts counts the times tor was started again after exiting.
	Restarts int
}

// Supervisor runs tor for one onion service and restarts it when it exits.
type Supervisor struct {
	cfg    Config
	keyOpt KeyOptions
	logger *zap.Logger

	lockRetries int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	stableAfter time.Duration
	after       func(time.Duration) <-chan time.Time
	now         func() time.Time

	mu      sync.Mutex
	status  Status
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// Option configures a Supervisor.
type Option func(*Supervisor)

// WithLogger sets the logger; the default discards.
func WithLogger(l *zap.Logger) Option { return func(s *Supervisor) { s.logger = l } }

// WithKeyOptions says how a missing or corrupt key is handled at the first
// start. Restarts after a crash never regenerate.
func WithKeyOptions(o KeyOptions) Option { return func(s *Supervisor) { s.keyOpt = o } }

// WithBackoff sets the first and the longest pause before restarting tor.
func WithBackoff(minimum, maximum time.Duration) Option {
	return func(s *Supervisor) { s.minBackoff, s.maxBackoff = minimum, maximum }
}

// WithLockRetries sets how often Start tries again while another tor holds
// the data directory (default 3, about 5s each).
func WithLockRetries(n int) Option { return func(s *Supervisor) { s.lockRetries = n } }

// WithClock replaces time.Now and time.After, for tests.
func WithClock(now func() time.Time, after func(time.Duration) <-chan time.Time) Option {
	return func(s *Supervisor) { s.now, s.after = now, after }
}

// NewSupervisor checks cfg and returns a supervisor that has not started.
func NewSupervisor(cfg Config, opts ...Option) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:         cfg.withDefaults(),
		logger:      zap.NewNop(),
		lockRetries: 3,
		minBackoff:  time.Second,
		maxBackoff:  time.Minute,
		stableAfter: time.Minute,
		after:       time.After,
		now:         time.Now,
		changed:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Start prepares the key and starts tor. An error here (a missing or corrupt
// key, a tor that does not come up) is returned; later exits are handled by
// restarting with backoff until Stop.
func (s *Supervisor) Start() error {
	addr, err := LoadOrCreateKey(s.cfg.ServiceDir(), s.keyOpt)
	if err != nil {
		return err
	}
	s.update(func(st *Status) { st.Address = addr })

	ctx, cancel := context.WithCancel(context.Background())
	inst, err := s.launch(ctx)
	// a tor left by a Caddy that was killed holds the data directory until
	// it notices its owner is gone (tor checks every 15s, and itself waits
	// 5s per attempt)
	for i := 0; i < s.lockRetries && errors.Is(err, errDataDirLocked); i++ {
		s.logger.Warn("tor data directory is in use; waiting for the old tor to exit")
		inst, err = s.launch(ctx)
	}
	if err != nil {
		cancel()
		return err
	}
	s.mu.Lock()
	s.cancel = cancel
	s.done = make(chan struct{})
	s.mu.Unlock()
	go s.supervise(ctx, inst)
	return nil
}

// Stop stops tor and the supervision. It is safe to call more than once and
// on a supervisor that never started.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Status returns a snapshot.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Await blocks until cond holds for the status or ctx ends.
func (s *Supervisor) Await(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		s.mu.Lock()
		st, ch := s.status, s.changed
		s.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

func (s *Supervisor) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// supervise waits for tor to exit and starts it again, pausing with
// exponential backoff; a run that lasted stableAfter resets the pause.
func (s *Supervisor) supervise(ctx context.Context, inst *instance) {
	defer close(s.done)
	backoff := s.minBackoff
	for {
		started := s.now()
		inst.wait(ctx)
		inst.stop()
		s.update(func(st *Status) { st.Running, st.PID, st.DescriptorsUploaded = false, 0, 0 })
		if ctx.Err() != nil {
			return
		}
		if s.now().Sub(started) >= s.stableAfter {
			backoff = s.minBackoff
		}
		s.logger.Warn("tor exited; restarting", zap.Duration(logfield.Backoff, backoff))

		for {
			select {
			case <-s.after(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, s.maxBackoff)
			var err error
			if inst, err = s.launch(ctx); err == nil {
				break
			}
			s.logger.Error("restarting tor", zap.Error(err), zap.Duration(logfield.Backoff, backoff))
		}
		s.update(func(st *Status) { st.Restarts++ })
	}
}

// instance is one tor process with its control connection.
type instance struct {
	proc    *torProcess
	tor     *tor.Tor
	cancel  context.CancelFunc
	reading chan struct{}
}

func (i *instance) wait(ctx context.Context) {
	select {
	case <-i.proc.done:
	case <-ctx.Done():
	}
}

// stop ends the process (SIGTERM, SIGKILL after a grace period) and closes
// the control connection.
func (i *instance) stop() {
	i.cancel()
	<-i.proc.done
	_ = i.tor.Control.Close()
	<-i.reading
}

// launch writes the torrc, starts one tor process and hooks up events.
func (s *Supervisor) launch(ctx context.Context) (*instance, error) {
	// a restart must come back with the same address, whatever is on disk
	addr, err := LoadOrCreateKey(s.cfg.ServiceDir(), KeyOptions{Pin: s.Status().Address})
	if err != nil {
		return nil, err
	}
	torrc := filepath.Join(s.cfg.DataDir, "torrc")
	if err := writeFileAtomic(torrc, []byte(s.cfg.Torrc())); err != nil {
		return nil, err
	}

	ictx, cancel := context.WithCancel(ctx)
	creator := &creator{path: s.cfg.TorPath}
	t, err := tor.Start(ictx, &tor.StartConf{
		ProcessCreator:  creator,
		DataDir:         s.cfg.DataDir,
		TorrcFile:       torrc,
		EnableNetwork:   s.cfg.EnableNetwork,
		NoAutoSocksPort: true,
		ExtraArgs:       []string{"--__OwningControllerProcess", strconv.Itoa(os.Getpid())},
	})
	if err != nil {
		cancel()
		return nil, s.startError(creator, err)
	}
	inst := &instance{proc: creator.proc, tor: t, cancel: cancel, reading: make(chan struct{})}

	boot, err := bootstrapProgress(t.Control)
	if err == nil {
		err = s.watchEvents(inst, strings.TrimSuffix(addr, ".onion"))
	}
	if err != nil {
		close(inst.reading)
		inst.stop()
		return nil, fmt.Errorf("talking to tor: %w", err)
	}
	s.update(func(st *Status) {
		st.Running, st.PID, st.Bootstrap = true, creator.proc.cmd.Process.Pid, boot
	})
	s.logger.Info("tor started", zap.Int(logfield.PID, creator.proc.cmd.Process.Pid),
		zap.Bool(logfield.Network, s.cfg.EnableNetwork))
	return inst, nil
}

// startError explains a failed start with tor's own error lines, which name
// configuration problems and never carry keys or visitor data.
func (s *Supervisor) startError(c *creator, err error) error {
	if c.proc == nil {
		return fmt.Errorf("starting tor: %w", err)
	}
	lines := c.proc.errLines()
	if len(lines) == 0 {
		return fmt.Errorf("starting tor: %w", err)
	}
	if strings.Contains(lines[0], "still there") {
		return fmt.Errorf("starting tor: %w", errDataDirLocked)
	}
	return fmt.Errorf("starting tor: %s", strings.Join(lines, "; "))
}

// bootstrapProgress asks tor for its bootstrap phase.
func bootstrapProgress(c *control.Conn) (int, error) {
	kvs, err := c.GetInfo("status/bootstrap-phase")
	if err != nil || len(kvs) == 0 {
		return 0, err
	}
	ev := control.ParseStatusEvent(control.EventCodeStatusClient, kvs[0].Val)
	n, _ := strconv.Atoi(ev.Arguments["PROGRESS"])
	return n, nil
}

// watchEvents subscribes to bootstrap and descriptor events and reads them
// until the control connection closes. bine relays events synchronously
// while reading, so the reader drains its own channel after every message.
func (s *Supervisor) watchEvents(inst *instance, serviceID string) error {
	ch := make(chan control.Event, 8)
	c := inst.tor.Control
	if err := c.AddEventListener(ch, control.EventCodeStatusClient, control.EventCodeHSDesc); err != nil {
		return err
	}
	go func() {
		defer close(inst.reading)
		for {
			err := c.HandleNextEvent()
			for drained := false; !drained; {
				select {
				case ev := <-ch:
					s.handleEvent(ev, serviceID)
				default:
					drained = true
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return nil
}

func (s *Supervisor) handleEvent(ev control.Event, serviceID string) {
	switch ev := ev.(type) {
	case *control.StatusEvent:
		if ev.Action != "BOOTSTRAP" {
			return
		}
		if n, err := strconv.Atoi(ev.Arguments["PROGRESS"]); err == nil {
			s.update(func(st *Status) { st.Bootstrap = n })
		}
	case *control.HSDescEvent:
		if ev.Action == "UPLOADED" && ev.Address == serviceID {
			s.update(func(st *Status) { st.DescriptorsUploaded++ })
		}
	}
}

// creator starts tor as a child that gets SIGTERM when its context ends and
// keeps the last few error lines tor prints.
type creator struct {
	path string
	proc *torProcess
}

func (c *creator) New(ctx context.Context, args ...string) (process.Process, error) {
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	p := &torProcess{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = io.Discard
	cmd.Stderr = &p.stderr
	c.proc = p
	return p, nil
}

// torProcess lets bine and the supervisor both wait for one exec.Cmd.
type torProcess struct {
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
	err    error
}

func (p *torProcess) Start() error {
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

func (p *torProcess) Wait() error {
	<-p.done
	return p.err
}

func (p *torProcess) EmbeddedControlConn() (net.Conn, error) {
	return nil, process.ErrControlConnUnsupported
}

// errLines returns up to three "[err]" lines tor wrote to stderr.
func (p *torProcess) errLines() []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(p.stderr.Bytes()))
	for sc.Scan() && len(out) < 3 {
		if _, msg, ok := strings.Cut(sc.Text(), "[err] "); ok {
			out = append(out, msg)
		}
	}
	return out
}

// lockedBuffer keeps the first 8 KiB written to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 8<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
