package onion

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Defaults for the service's defences, used when a Config field is zero.
// The reasoning is in docs/onion.md.
const (
	DefaultMaxStreams     = 32
	DefaultIntroRate      = 25
	DefaultIntroBurst     = 200
	DefaultPoWQueueRate   = 250
	DefaultPoWQueueBurst  = 2500
	DefaultVirtualPort    = 80
	DefaultNumIntroPoints = 3
)

// Config describes one onion service and the tor that runs it. The zero
// value, with DataDir and Socket set, is a safe service: network off,
// circuit IDs exported, proof-of-work and intro-point defences on.
type Config struct {
	// TorPath is the tor binary; "tor" from PATH when empty.
	TorPath string `json:"tor_path,omitempty"`

	// DataDir is tor's data directory. The service key lives in its
	// "hs" subdirectory.
	DataDir string `json:"data_dir,omitempty"`

	// Socket is the unix socket the service forwards to.
	Socket string `json:"socket,omitempty"`

	// VirtualPort is the port visitors use on the onion address (80).
	VirtualPort int `json:"virtual_port,omitempty"`

	// EnableNetwork lets tor connect to the Tor network. Off by default so
	// that a development or test start never reaches the public network.
	EnableNetwork bool `json:"enable_network,omitempty"`

	// DisableCircuitID turns off HiddenServiceExportCircuitID; all onion
	// visitors then share one identity.
	DisableCircuitID bool `json:"disable_circuit_id,omitempty"`

	// DisablePoW turns off the proof-of-work defence.
	DisablePoW bool `json:"disable_pow,omitempty"`

	// PoWQueueRate and PoWQueueBurst tune the proof-of-work queue.
	PoWQueueRate  int `json:"pow_queue_rate,omitempty"`
	PoWQueueBurst int `json:"pow_queue_burst,omitempty"`

	// DisableIntroDoS turns off the intro-point rate limit.
	DisableIntroDoS bool `json:"disable_intro_dos,omitempty"`

	// IntroRate and IntroBurst are the intro-point limits per second.
	IntroRate  int `json:"intro_rate,omitempty"`
	IntroBurst int `json:"intro_burst,omitempty"`

	// MaxStreams is the most streams one circuit may open; a circuit that
	// asks for more is closed.
	MaxStreams int `json:"max_streams,omitempty"`

	// NumIntroPoints is the number of introduction points.
	NumIntroPoints int `json:"num_intro_points,omitempty"`

	// TestingDirAuthorities switches tor to a private test network
	// (TestingTorNetwork) with these DirAuthority lines. Every address in
	// them must be on loopback.
	//
	// EXPERIMENTAL: for tests only.
	TestingDirAuthorities []string `json:"testing_dir_authorities,omitempty"`
}

// ServiceDir is the HiddenServiceDir inside DataDir.
func (c Config) ServiceDir() string { return filepath.Join(c.DataDir, "hs") }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.VirtualPort, DefaultVirtualPort)
	def(&c.MaxStreams, DefaultMaxStreams)
	def(&c.IntroRate, DefaultIntroRate)
	def(&c.IntroBurst, DefaultIntroBurst)
	def(&c.PoWQueueRate, DefaultPoWQueueRate)
	def(&c.PoWQueueBurst, DefaultPoWQueueBurst)
	def(&c.NumIntroPoints, DefaultNumIntroPoints)
	if c.TorPath == "" {
		c.TorPath = "tor"
	}
	return c
}

// Validate checks c without touching the file system.
func (c Config) Validate() error {
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return errors.New("data_dir must be an absolute path")
	}
	if c.Socket == "" || !filepath.IsAbs(c.Socket) {
		return errors.New("socket must be an absolute path")
	}
	// sun_path holds 108 bytes including the terminating NUL
	if len(c.Socket) > 107 {
		return fmt.Errorf("socket path is %d bytes, the limit is 107", len(c.Socket))
	}
	for _, s := range []string{c.DataDir, c.Socket, c.TorPath} {
		if strings.ContainsAny(s, "\n\r\"\\") {
			return errors.New("paths must not contain quotes, backslashes or line breaks")
		}
	}
	if c.VirtualPort < 0 || c.VirtualPort > 65535 {
		return fmt.Errorf("virtual_port %d is out of range", c.VirtualPort)
	}
	for _, n := range []int{c.MaxStreams, c.IntroRate, c.IntroBurst, c.PoWQueueRate, c.PoWQueueBurst} {
		if n < 0 {
			return errors.New("limits must not be negative")
		}
	}
	if c.NumIntroPoints < 0 || c.NumIntroPoints > 20 {
		return fmt.Errorf("num_intro_points %d is out of range 1..20", c.NumIntroPoints)
	}
	for _, line := range c.TestingDirAuthorities {
		if err := checkLoopbackAuthority(line); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopbackAuthority accepts a DirAuthority value only if every address
// in it is on loopback, so that a test network can never reach real relays.
func checkLoopbackAuthority(line string) error {
	if strings.ContainsAny(line, "\n\r") {
		return errors.New("testing_dir_authorities: line breaks are not allowed")
	}
	found := false
	for _, f := range strings.Fields(line) {
		f = strings.TrimPrefix(f, "ipv6=")
		ap, err := netip.ParseAddrPort(f)
		if err != nil {
			continue
		}
		if !ap.Addr().IsLoopback() {
			return fmt.Errorf("testing_dir_authorities: %s is not a loopback address", ap.Addr())
		}
		found = true
	}
	if !found {
		return errors.New("testing_dir_authorities: no address:port in entry")
	}
	return nil
}

// Torrc renders the configuration file picket gives tor. The control port,
// data directory and network switch are passed on the command line by bine.
func (c Config) Torrc() string {
	c = c.withDefaults()
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%s %v\n", k, v) }

	b.WriteString("# Written by picket; changes are overwritten at start-up.\n")
	line("SocksPort", 0)
	line("SafeLogging", 1)
	line("Log", "notice file "+filepath.Join(c.DataDir, "notices.log"))
	line("Log", "err stderr")
	if len(c.TestingDirAuthorities) > 0 {
		line("TestingTorNetwork", 1)
		for _, a := range c.TestingDirAuthorities {
			line("DirAuthority", a)
		}
	}

	line("HiddenServiceDir", c.ServiceDir())
	line("HiddenServiceVersion", 3)
	line("HiddenServicePort", strconv.Itoa(c.VirtualPort)+" unix:"+quote(c.Socket))
	line("HiddenServiceMaxStreams", c.MaxStreams)
	line("HiddenServiceMaxStreamsCloseCircuit", 1)
	line("HiddenServiceNumIntroductionPoints", c.NumIntroPoints)
	if !c.DisableCircuitID {
		line("HiddenServiceExportCircuitID", "haproxy")
	}
	if !c.DisablePoW {
		line("HiddenServicePoWDefensesEnabled", 1)
		line("HiddenServicePoWQueueRate", c.PoWQueueRate)
		line("HiddenServicePoWQueueBurst", c.PoWQueueBurst)
	}
	if !c.DisableIntroDoS {
		line("HiddenServiceEnableIntroDoSDefense", 1)
		line("HiddenServiceEnableIntroDoSRatePerSec", c.IntroRate)
		line("HiddenServiceEnableIntroDoSBurstPerSec", c.IntroBurst)
	}
	return b.String()
}

func quote(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}
