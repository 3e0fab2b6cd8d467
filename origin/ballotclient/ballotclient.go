// Package ballotclient is the reference client of picket's ballots: it
// fetches a ballot, blinds a vote message, asks for a token, finalises it
// and votes, as docs/voting-protocol.md describes. The app implements the
// same steps; the tests and the benchmarks use this package.
package ballotclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/picket-edge/picket/origin/internal/ballots"
)

// Client talks to the origin (or the edge in front of it).
type Client struct {
	// BaseURL is the scheme and host, e.g. "https://picket.example".
	BaseURL string
	// HTTP sends the requests; http.DefaultClient if nil. Send votes over
	// a client that shares no connection with the issuing one (see Vote).
	HTTP *http.Client
	// Rand is the randomness for nullifiers and blinding; crypto/rand if
	// nil. Only tests set it.
	Rand io.Reader
}

// Ballot is a ballot as the public page's JSON gives it.
type Ballot struct {
	ID           string    `json:"id"`
	UnionID      string    `json:"union_id"`
	Question     string    `json:"question"`
	Options      []string  `json:"options"`
	Mode         string    `json:"mode"`
	OpensAt      time.Time `json:"opens_at"`
	ClosesAt     time.Time `json:"closes_at"`
	RunningTally bool      `json:"running_tally"`
	Status       string    `json:"status"`
	Variant      string    `json:"variant,omitempty"`
	PublicKey    []byte    `json:"-"`
	KeyID        string    `json:"key_id,omitempty"`
}

// Tally is the answer of GET /ballots/{id}/tally.
type Tally struct {
	BallotID string   `json:"ballot_id"`
	Status   string   `json:"status"`
	Options  []string `json:"options"`
	Counts   []int64  `json:"counts"`
	Total    int64    `json:"total"`
}

// Error is a refusal by the server.
type Error struct {
	Status int
	Code   string
}

func (e *Error) Error() string { return fmt.Sprintf("server answered %d %s", e.Status, e.Code) }

// IsCode reports whether err is a refusal with the given error code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

// do sends one JSON request; session may be empty. out (if not nil)
// receives a 2xx JSON answer.
func (c *Client) do(ctx context.Context, method, path, session string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	res, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return &Error{Status: res.StatusCode, Code: e.Error.Code}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Ballot fetches a ballot's public description and, for an unlinkable
// ballot, checks that its public key matches its key id.
func (c *Client) Ballot(ctx context.Context, id string) (*Ballot, error) {
	var raw struct {
		Ballot
		PublicKey string `json:"public_key"`
	}
	if err := c.do(ctx, http.MethodGet, "/ballots/"+id, "", nil, &raw); err != nil {
		return nil, err
	}
	b := raw.Ballot
	if b.Mode != ballots.ModeUnlinkable {
		return &b, nil
	}
	if raw.Variant != ballots.Variant {
		return nil, fmt.Errorf("ballot %s: variant %q, want %q", id, raw.Variant, ballots.Variant)
	}
	der, err := ballots.DecodeBytes(raw.PublicKey, 4096)
	if err != nil {
		return nil, fmt.Errorf("ballot %s: public key: %w", id, err)
	}
	sum := sha256.Sum256(der)
	if hex.EncodeToString(sum[:]) != b.KeyID {
		return nil, fmt.Errorf("ballot %s: public key does not match key id", id)
	}
	b.PublicKey = der
	return &b, nil
}

// Tally fetches the counts; refused with code "tally_not_available"
// before the ballot closes unless it shows running tallies.
func (c *Client) Tally(ctx context.Context, id string) (*Tally, error) {
	var t Tally
	if err := c.do(ctx, http.MethodGet, "/ballots/"+id+"/tally", "", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// VoteSimple casts a vote in a simple (Mode A) ballot with a session.
func (c *Client) VoteSimple(ctx context.Context, session, ballotID string, choice int) error {
	return c.do(ctx, http.MethodPost, "/ballots/"+ballotID+"/vote", session,
		map[string]int{"choice": choice}, nil)
}
