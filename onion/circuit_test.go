package onion

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadCircuitHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
		rest    string
	}{
		{name: "tor example", in: "PROXY TCP6 fc00:dead:beef:4dad::ffff:ffff ::1 65535 42\r\nGET", want: "4294967295", rest: "GET"},
		{name: "small id", in: "PROXY TCP6 fc00:dead:beef:4dad::7 ::1 65535 80\r\n", want: "7"},
		{name: "mixed id", in: "PROXY TCP6 fc00:dead:beef:4dad::aabb:ccdd ::1 65535 80\r\n", want: "2864434397"},
		{name: "no header", in: "GET / HTTP/1.1\r\n\r\n", wantErr: true},
		{name: "tcp4", in: "PROXY TCP4 127.0.0.1 127.0.0.1 1 80\r\n", wantErr: true},
		{name: "other prefix", in: "PROXY TCP6 fc00:dead:beef:4dae::1 ::1 65535 80\r\n", wantErr: true},
		{name: "unknown", in: "PROXY UNKNOWN\r\n", wantErr: true},
		{name: "bare lf", in: "PROXY TCP6 fc00:dead:beef:4dad::1 ::1 65535 80\n", wantErr: true},
		{name: "bad port", in: "PROXY TCP6 fc00:dead:beef:4dad::1 ::1 65536 80\r\n", wantErr: true},
		{name: "leading zero port", in: "PROXY TCP6 fc00:dead:beef:4dad::1 ::1 080 80\r\n", wantErr: true},
		{name: "too long", in: "PROXY TCP6 " + strings.Repeat("0", 200) + "\r\n", wantErr: true},
		{name: "truncated", in: "PROXY TCP6 fc00:dead:beef:4dad::1", wantErr: true},
		{name: "zone", in: "PROXY TCP6 fc00:dead:beef:4dad::1%eth0 ::1 65535 80\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			got, err := ReadCircuitHeader(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got circuit %q, want %q", got, tt.want)
			}
			if tt.rest != "" {
				rest, _ := r.ReadString(0)
				if rest != tt.rest {
					t.Fatalf("got rest %q, want %q", rest, tt.rest)
				}
			}
		})
	}
}
