package onion

import (
	"bufio"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// circuitPrefix is the /96 in which tor encodes a circuit's global ID when
// HiddenServiceExportCircuitID is "haproxy": the ID is the last 32 bits.
var circuitPrefix = netip.MustParsePrefix("fc00:dead:beef:4dad::/96")

// maxHeader is the longest PROXY protocol v1 line, CRLF included.
const maxHeader = 107

// ErrBadCircuitHeader is returned for a stream that does not start with the
// PROXY line tor sends for an onion service that exports circuit IDs.
var ErrBadCircuitHeader = errors.New("stream does not start with tor's circuit header")

// ReadCircuitHeader reads the PROXY protocol v1 line tor writes at the start
// of every onion stream and returns the circuit's global ID in decimal.
// It accepts only the form tor produces:
//
//	PROXY TCP6 fc00:dead:beef:4dad::AABB:CCDD ::1 65535 <virtual port>\r\n
func ReadCircuitHeader(r *bufio.Reader) (string, error) {
	var line []byte
	for len(line) < maxHeader {
		b, err := r.ReadByte()
		if err != nil {
			return "", ErrBadCircuitHeader
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return "", ErrBadCircuitHeader
	}
	return ParseCircuitHeader(s)
}

// ParseCircuitHeader parses one PROXY line without its CRLF.
func ParseCircuitHeader(line string) (string, error) {
	f := strings.Split(line, " ")
	if len(f) != 6 || f[0] != "PROXY" || f[1] != "TCP6" {
		return "", ErrBadCircuitHeader
	}
	src, err := netip.ParseAddr(f[2])
	if err != nil || src.Zone() != "" || !circuitPrefix.Contains(src) {
		return "", ErrBadCircuitHeader
	}
	if _, err := netip.ParseAddr(f[3]); err != nil {
		return "", ErrBadCircuitHeader
	}
	for _, p := range f[4:] {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || strconv.FormatUint(n, 10) != p {
			return "", ErrBadCircuitHeader
		}
	}
	b := src.As16()
	id := uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15])
	return strconv.FormatUint(uint64(id), 10), nil
}
