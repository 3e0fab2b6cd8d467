package redistest

import "testing"

func TestStopAndStart(t *testing.T) {
	s := Start(t)
	steps := []struct {
		name string
		do   func()
		up   bool
	}{
		{"started", func() {}, true},
		{"stopped", s.Stop, false},
		{"stopped twice", s.Stop, false},
		{"restarted", s.Start, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			got, err := s.Do("PING")
			if st.up && (err != nil || got != "+PONG") {
				t.Fatalf("got %q, %v, want +PONG", got, err)
			}
			if !st.up && err == nil {
				t.Fatalf("got %q, want a connection error", got)
			}
		})
	}
	if got, _ := s.Do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("got %q, want +OK", got)
	}
}
