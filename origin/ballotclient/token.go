package ballotclient

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudflare/circl/blindsign/blindrsa"

	"github.com/picket-edge/picket/origin/internal/ballots"
)

// Request is a blinded vote waiting for its blind signature. It holds the
// secrets of the vote (nullifier, choice, blinding factor): keep it on the
// device, never send it.
type Request struct {
	ballotID string
	client   blindrsa.Client
	prepared []byte
	blinded  []byte
	state    blindrsa.State
}

// Vote is a finalised token: the prepared message and its signature. It
// is all the vote request carries, and it names no one.
type Vote struct {
	BallotID  string
	Prepared  []byte
	Signature []byte
}

// Blind makes a vote for choice in the unlinkable ballot b: a fresh random
// nullifier, the message of docs/voting-protocol.md, prepared and blinded
// under the ballot's public key.
func Blind(b *Ballot, choice int, random io.Reader) (*Request, error) {
	if b.Mode != ballots.ModeUnlinkable || b.PublicKey == nil {
		return nil, errors.New("blinding a vote: not an unlinkable ballot")
	}
	if choice < 0 || choice >= len(b.Options) {
		return nil, fmt.Errorf("blinding a vote: no option %d", choice)
	}
	m := ballots.Message{BallotID: b.ID, Choice: choice}
	if _, err := io.ReadFull(random, m.Nullifier[:]); err != nil {
		return nil, fmt.Errorf("making a nullifier: %w", err)
	}
	msg, err := m.Encode()
	if err != nil {
		return nil, err
	}
	pk, err := x509.ParsePKIXPublicKey(b.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("parsing the ballot key: %w", err)
	}
	rk, ok := pk.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("parsing the ballot key: not RSA")
	}
	r, err := blindMessage(rk, msg, random)
	if err != nil {
		return nil, err
	}
	r.ballotID = b.ID
	return r, nil
}

// blindMessage runs RFC 9474 Prepare and Blind on msg: random gives the
// 32-byte prefix, then the PSS salt, then the blinding factor.
func blindMessage(pk *rsa.PublicKey, msg []byte, random io.Reader) (*Request, error) {
	c, err := blindrsa.NewClient(blindrsa.SHA384PSSRandomized, pk)
	if err != nil {
		return nil, err
	}
	prepared, err := c.Prepare(random, msg)
	if err != nil {
		return nil, fmt.Errorf("preparing the message: %w", err)
	}
	blinded, state, err := c.Blind(random, prepared)
	if err != nil {
		return nil, fmt.Errorf("blinding the message: %w", err)
	}
	return &Request{client: c, prepared: prepared, blinded: blinded, state: state}, nil
}

// Blinded is the blinded message, the only thing the issuer sees.
func (r *Request) Blinded() []byte { return r.blinded }

// Finalize unblinds the blind signature and checks the result, which
// fails if the issuer signed with another key than the ballot's.
func (r *Request) Finalize(blindSig []byte) (*Vote, error) {
	sig, err := r.client.Finalize(r.state, blindSig)
	if err != nil {
		return nil, fmt.Errorf("finalising the token: %w", err)
	}
	return &Vote{BallotID: r.ballotID, Prepared: r.prepared, Signature: sig}, nil
}

// IssueRequest is the body of POST /ballots/{id}/issue_token.
type IssueRequest struct {
	BlindedMessage string `json:"blinded_message"`
}

// IssueResponse is its answer.
type IssueResponse struct {
	BlindSignature string `json:"blind_signature"`
}

// VoteRequest is the body of POST /ballots/{id}/vote in an unlinkable
// ballot.
type VoteRequest struct {
	Message   string `json:"message"`
	Signature string `json:"signature"`
}

// Body is the JSON body of the vote request, for scripted load.
func (v *Vote) Body() []byte {
	b, _ := json.Marshal(VoteRequest{
		Message: ballots.EncodeBytes(v.Prepared), Signature: ballots.EncodeBytes(v.Signature),
	})
	return b
}

// IssueToken sends the blinded message with the member's session and
// returns the blind signature.
func (c *Client) IssueToken(ctx context.Context, session string, r *Request) ([]byte, error) {
	var res IssueResponse
	err := c.do(ctx, http.MethodPost, "/ballots/"+r.ballotID+"/issue_token", session,
		IssueRequest{BlindedMessage: ballots.EncodeBytes(r.blinded)}, &res)
	if err != nil {
		return nil, err
	}
	return ballots.DecodeBytes(res.BlindSignature, 1024)
}

// Token runs the member's side up to a finalised vote: fetch nothing, blind
// choice for b, get the blind signature, finalise. The vote is not sent.
func (c *Client) Token(ctx context.Context, session string, b *Ballot, choice int) (*Vote, error) {
	r, err := Blind(b, choice, c.rand())
	if err != nil {
		return nil, err
	}
	blindSig, err := c.IssueToken(ctx, session, r)
	if err != nil {
		return nil, err
	}
	return r.Finalize(blindSig)
}

// Vote sends a finalised vote without any credential. For unlinkability
// the app sends it on a fresh connection (ideally another circuit), after a
// random delay, never on the connection that carried the session.
func (c *Client) Vote(ctx context.Context, v *Vote) error {
	return c.do(ctx, http.MethodPost, "/ballots/"+v.BallotID+"/vote", "",
		VoteRequest{Message: ballots.EncodeBytes(v.Prepared), Signature: ballots.EncodeBytes(v.Signature)},
		nil)
}
