// Package cfapistandin is a STAND-IN for Cloudflare's IP-ranges API
// (GET https://api.cloudflare.com/client/v4/ips), for tests and local
// development only. It answers from a list the caller sets, in the same
// envelope as the real API, and can be told to fail in the ways the range
// source must survive. It is not Cloudflare and knows nothing of its ranges.
package cfapistandin

import (
	"encoding/json"
	"net/http"
	"sync"
)

// StandIn serves /ips (and /client/v4/ips) from the configured answer.
type StandIn struct {
	mu     sync.Mutex
	status int
	body   []byte
	hits   int
}

// New returns a stand-in that answers 503 until told otherwise.
func New() *StandIn {
	return &StandIn{status: http.StatusServiceUnavailable, body: []byte(`{}`)}
}

// SetRanges makes the stand-in answer 200 with these CIDRs.
func (s *StandIn) SetRanges(ipv4, ipv6 []string) {
	if ipv4 == nil {
		ipv4 = []string{}
	}
	if ipv6 == nil {
		ipv6 = []string{}
	}
	b, err := json.Marshal(envelope{
		Result:   result{IPv4: ipv4, IPv6: ipv6, Etag: "stand-in"},
		Success:  true,
		Errors:   []any{},
		Messages: []any{},
	})
	if err != nil {
		panic("BUG: encoding stand-in answer: " + err.Error())
	}
	s.SetRaw(http.StatusOK, b)
}

// SetRaw makes the stand-in answer status with body as is.
func (s *StandIn) SetRaw(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// Hits returns how many range requests were served.
func (s *StandIn) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// ServeHTTP answers GET /ips and GET /client/v4/ips.
func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || (r.URL.Path != "/ips" && r.URL.Path != "/client/v4/ips") {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.hits++
	status, body := s.status, s.body
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type envelope struct {
	Result   result `json:"result"`
	Success  bool   `json:"success"`
	Errors   []any  `json:"errors"`
	Messages []any  `json:"messages"`
}

type result struct {
	IPv4 []string `json:"ipv4_cidrs"`
	IPv6 []string `json:"ipv6_cidrs"`
	Etag string   `json:"etag"`
}
