package api

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/ballots"
	"github.com/picket-edge/picket/origin/internal/events"
	"github.com/picket-edge/picket/origin/internal/unions"
)

// maxWireBytes bounds the decoded byte strings of the ballot routes: an
// RSA-4096 value is 512 bytes; a prepared vote message is far shorter.
const maxWireBytes = 512

func (a *app) ballotRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /ballots", a.authed(a.createBallot))
	mux.HandleFunc("GET /ballots/{id}", a.showBallot)
	mux.HandleFunc("GET /ballots/{id}/tally", a.showTally)
	mux.HandleFunc("GET /ballots/{id}/admin", a.authed(a.ballotAdmin))
	mux.HandleFunc("POST /ballots/{id}/issue_token", a.authed(a.issueToken))
	// the edge rate-limits this exact path
	mux.HandleFunc("POST /ballots/{id}/vote", a.vote)
	mux.HandleFunc("GET /unions/{slug}/ballots", a.listBallots)
}

// ballotView is a ballot as the public page and the app see it.
type ballotView struct {
	*ballots.Ballot
	Status    string         `json:"status"`
	Variant   string         `json:"variant,omitempty"`
	PublicKey string         `json:"public_key,omitempty"` // PKIX DER, base64url
	KeyID     string         `json:"key_id,omitempty"`     // hex SHA-256 of the DER
	Tally     *ballots.Tally `json:"tally,omitempty"`      // when visible
}

func (a *app) view(b *ballots.Ballot) ballotView {
	v := ballotView{Ballot: b, Status: b.Status(a.now())}
	if b.PublicKey != nil {
		v.Variant = ballots.Variant
		v.PublicKey = ballots.EncodeBytes(b.PublicKey.DER())
		v.KeyID = b.PublicKey.ID()
	}
	return v
}

type createBallotRequest struct {
	Union        string     `json:"union"`
	Question     string     `json:"question"`
	Options      []string   `json:"options"`
	Mode         string     `json:"mode"`
	OpensAt      *time.Time `json:"opens_at"`
	ClosesAt     time.Time  `json:"closes_at"`
	RunningTally bool       `json:"running_tally"`
}

// validBallot checks a create request; it returns the message for a 400.
func validBallot(req *createBallotRequest, now time.Time) string {
	req.Question = strings.TrimSpace(req.Question)
	if !textOK(req.Question, 1, ballots.MaxQuestion) {
		return "a question is 1 to 500 characters"
	}
	if len(req.Options) < ballots.MinOptions || len(req.Options) > ballots.MaxOptions {
		return "a ballot has 2 to 20 options"
	}
	seen := map[string]bool{}
	for i, o := range req.Options {
		o = strings.TrimSpace(o)
		if !textOK(o, 1, ballots.MaxOption) || seen[o] {
			return "options are 1 to 200 characters and distinct"
		}
		seen[o], req.Options[i] = true, o
	}
	if req.Mode != ballots.ModeSimple && req.Mode != ballots.ModeUnlinkable {
		return `mode is "simple" or "unlinkable"`
	}
	if req.OpensAt == nil {
		req.OpensAt = &now
	}
	if !req.ClosesAt.After(*req.OpensAt) || !req.ClosesAt.After(now) {
		return "closes_at must be after opens_at and in the future"
	}
	return ""
}

func (a *app) createBallot(w http.ResponseWriter, r *http.Request, s session) {
	var req createBallotRequest
	if !a.s.readJSON(w, r, &req) {
		return
	}
	ctx, id := r.Context(), RequestID(r.Context())
	if msg := validBallot(&req, a.now()); msg != "" {
		apierror.Write(w, http.StatusBadRequest, "bad_ballot", msg, id)
		return
	}
	if !slugPattern.MatchString(req.Union) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such union", id)
		return
	}
	u, err := a.unions.BySlug(ctx, req.Union)
	if err != nil {
		a.unionError(w, r, err)
		return
	}
	if !a.requireAdmin(w, r, s, u.ID) {
		return
	}

	b := &ballots.Ballot{
		ID: accounts.NewID(), UnionID: u.ID, Question: req.Question, Options: req.Options,
		Mode: req.Mode, OpensAt: req.OpensAt.UTC().Truncate(time.Second),
		ClosesAt: req.ClosesAt.UTC().Truncate(time.Second), RunningTally: req.RunningTally,
	}
	if err := a.ballots.Create(ctx, b); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(ctx, events.BallotCreated)
	writeJSON(w, http.StatusCreated, a.view(b))
}

// unionError answers a failed union look-up.
func (a *app) unionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, unions.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such union", RequestID(r.Context()))
		return
	}
	a.internalError(w, r, err)
}

// requireAdmin answers 403 unless the session's account administers the
// union; it reports whether to go on.
func (a *app) requireAdmin(w http.ResponseWriter, r *http.Request, s session, unionID string) bool {
	admin, err := a.unions.IsAdmin(r.Context(), s.accountID, unionID)
	if err != nil {
		a.internalError(w, r, err)
		return false
	}
	if !admin {
		apierror.Write(w, http.StatusForbidden, "forbidden", "union admins only", RequestID(r.Context()))
		return false
	}
	return true
}

// ballot loads the ballot named in the path; on failure it has answered.
func (a *app) ballot(w http.ResponseWriter, r *http.Request) (*ballots.Ballot, bool) {
	b, err := a.ballots.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ballots.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such ballot", RequestID(r.Context()))
		return nil, false
	}
	if err != nil {
		a.internalError(w, r, err)
		return nil, false
	}
	return b, true
}

func (a *app) showBallot(w http.ResponseWriter, r *http.Request) {
	b, ok := a.ballot(w, r)
	if !ok {
		return
	}
	v := a.view(b)
	if b.TallyVisible(a.now()) {
		t, err := a.ballots.Tally(r.Context(), b)
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		v.Tally = &t
	}
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeHTML(w, ballotTmpl, v)
}

func (a *app) listBallots(w http.ResponseWriter, r *http.Request) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	list, err := a.ballots.ForUnion(r.Context(), u.ID, pageSize)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	views := make([]ballotView, len(list))
	for i, b := range list {
		views[i] = a.view(b)
	}
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"union": u.Slug, "ballots": views})
		return
	}
	writeHTML(w, ballotListTmpl, map[string]any{"Union": u, "Ballots": views})
}

type tallyView struct {
	BallotID string   `json:"ballot_id"`
	Status   string   `json:"status"`
	Options  []string `json:"options"`
	ballots.Tally
}

func (a *app) showTally(w http.ResponseWriter, r *http.Request) {
	b, ok := a.ballot(w, r)
	if !ok {
		return
	}
	if !b.TallyVisible(a.now()) {
		apierror.Write(w, http.StatusForbidden, "tally_not_available",
			"the tally is shown once the ballot closes", RequestID(r.Context()))
		return
	}
	t, err := a.ballots.Tally(r.Context(), b)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tallyView{
		BallotID: b.ID, Status: b.Status(a.now()), Options: b.Options, Tally: t,
	})
}

// ballotAdmin shows a union's admins the ballot's aggregates: issued
// tokens and votes cast, and the tally under the same rule as everyone.
func (a *app) ballotAdmin(w http.ResponseWriter, r *http.Request, s session) {
	b, ok := a.ballot(w, r)
	if !ok || !a.requireAdmin(w, r, s, b.UnionID) {
		return
	}
	turnout, err := a.ballots.Turnout(r.Context(), b)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	v := a.view(b)
	if b.TallyVisible(a.now()) {
		t, err := a.ballots.Tally(r.Context(), b)
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		v.Tally = &t
	}
	writeJSON(w, http.StatusOK, map[string]any{"ballot": v, "turnout": turnout})
}

func (a *app) issueToken(w http.ResponseWriter, r *http.Request, s session) {
	b, ok := a.ballot(w, r)
	if !ok {
		return
	}
	var req struct {
		BlindedMessage string `json:"blinded_message"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	blinded, err := ballots.DecodeBytes(req.BlindedMessage, maxWireBytes)
	if err != nil {
		a.ballotError(w, r, fmt.Errorf("%w: %w", ballots.ErrBadBlindedMessage, err))
		return
	}
	if !a.requireMember(w, r, s, b.UnionID) {
		return
	}
	sig, err := a.ballots.IssueToken(r.Context(), b, s.accountID, blinded, a.now())
	if errors.Is(err, ballots.ErrAlreadyUsed) {
		apierror.Write(w, http.StatusConflict, "token_already_issued",
			"a token for this ballot was already issued to you", RequestID(r.Context()))
		return
	}
	if err != nil {
		a.ballotError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"blind_signature": ballots.EncodeBytes(sig)})
}

func (a *app) requireMember(w http.ResponseWriter, r *http.Request, s session, unionID string) bool {
	member, err := a.unions.IsMember(r.Context(), s.accountID, unionID)
	if err != nil {
		a.internalError(w, r, err)
		return false
	}
	if !member {
		apierror.Write(w, http.StatusForbidden, "not_member", "only the union's members vote",
			RequestID(r.Context()))
		return false
	}
	return true
}

// vote takes a simple ballot's vote with a session, or an unlinkable
// ballot's finalised token without one.
func (a *app) vote(w http.ResponseWriter, r *http.Request) {
	b, ok := a.ballot(w, r)
	if !ok {
		return
	}
	if b.Mode == ballots.ModeSimple {
		a.authed(func(w http.ResponseWriter, r *http.Request, s session) {
			a.voteSimple(w, r, s, b)
		})(w, r)
		return
	}
	a.voteUnlinkable(w, r, b)
}

func (a *app) voteSimple(w http.ResponseWriter, r *http.Request, s session, b *ballots.Ballot) {
	var req struct {
		Choice *int `json:"choice"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	if req.Choice == nil {
		apierror.Write(w, http.StatusBadRequest, "bad_choice", "choice is required", RequestID(r.Context()))
		return
	}
	if !a.requireMember(w, r, s, b.UnionID) {
		return
	}
	err := a.ballots.VoteSimple(r.Context(), b, s.accountID, *req.Choice, a.now())
	if err != nil {
		a.ballotError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"status": "counted"})
}

func (a *app) voteUnlinkable(w http.ResponseWriter, r *http.Request, b *ballots.Ballot) {
	// a session here would tie the vote to a member; refuse the mistake
	// rather than quietly ignore it
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		apierror.Write(w, http.StatusBadRequest, "credential_not_allowed",
			"an unlinkable vote is sent without any session", RequestID(r.Context()))
		return
	}
	var req struct {
		Message   string `json:"message"`
		Signature string `json:"signature"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	msg, err := ballots.DecodeBytes(req.Message, maxWireBytes)
	if err != nil {
		a.ballotError(w, r, err)
		return
	}
	sig, err := ballots.DecodeBytes(req.Signature, maxWireBytes)
	if err != nil {
		a.ballotError(w, r, err)
		return
	}
	if err := a.ballots.VoteUnlinkable(r.Context(), b, msg, sig, a.now()); err != nil {
		a.ballotError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"status": "counted"})
}

// ballotError maps the ballot store's refusals to statuses, once.
func (a *app) ballotError(w http.ResponseWriter, r *http.Request, err error) {
	id := RequestID(r.Context())
	switch {
	case errors.Is(err, ballots.ErrNotOpen):
		apierror.Write(w, http.StatusForbidden, "ballot_not_open", "the ballot is not open", id)
	case errors.Is(err, ballots.ErrWrongMode):
		apierror.Write(w, http.StatusBadRequest, "wrong_mode", "not possible in this ballot's mode", id)
	case errors.Is(err, ballots.ErrAlreadyUsed):
		apierror.Write(w, http.StatusConflict, "already_voted", "this vote was already counted", id)
	case errors.Is(err, ballots.ErrBadChoice):
		apierror.Write(w, http.StatusBadRequest, "bad_choice", "no such option", id)
	case errors.Is(err, ballots.ErrWrongBallot):
		apierror.Write(w, http.StatusBadRequest, "wrong_ballot", "the message names another ballot", id)
	case errors.Is(err, ballots.ErrBadBlindedMessage):
		apierror.Write(w, http.StatusBadRequest, "bad_blinded_message",
			"the blinded message does not fit the ballot's key", id)
	case errors.Is(err, ballots.ErrMalformed):
		apierror.Write(w, http.StatusBadRequest, "malformed_vote", "the message is not in the format", id)
	case errors.Is(err, ballots.ErrBadSignature):
		apierror.Write(w, http.StatusForbidden, "invalid_signature",
			"the signature is not a valid token for this ballot", id)
	default:
		a.internalError(w, r, err)
	}
}

var ballotTmpl = template.Must(template.New("ballot").Funcs(template.FuncMap{
	"count": func(t *ballots.Tally, i int) int64 { return t.Counts[i] },
}).Parse(pageHead + `
<h1>{{.Question}}</h1>
<p>Status: <strong>{{.Status}}</strong>. Open from {{.OpensAt.Format "2006-01-02 15:04 UTC"}}
to {{.ClosesAt.Format "2006-01-02 15:04 UTC"}}.</p>
{{if eq .Mode "unlinkable"}}<p>Unlinkable ballot: votes are counted with blind signatures, so
no one, not even the server, can tell who cast which vote.
Key fingerprint (SHA-256): <code>{{.KeyID}}</code></p>
{{else}}<p>Simple ballot: the server records that a member voted, apart from the choice.</p>{{end}}
<h2>Options</h2>
<ol start="0">
{{$t := .Tally}}{{range $i, $o := .Options}}<li>{{$o}}{{if $t}}: {{count $t $i}} votes{{end}}</li>
{{end}}</ol>
{{if .Tally}}<p>Total: {{.Tally.Total}} votes{{if eq .Status "open"}} so far{{end}}.</p>
{{else}}<p>The tally is shown once the ballot closes.</p>{{end}}
<p>Voting happens in the app.</p>
` + pageFoot))

var ballotListTmpl = template.Must(template.New("ballots").Parse(pageHead + `
<h1>Ballots of {{.Union.Name}}</h1>
{{if .Ballots}}<ul>
{{range .Ballots}}<li><a href="/ballots/{{.ID}}">{{.Question}}</a> ({{.Status}})</li>
{{end}}</ul>{{else}}<p>No ballots yet.</p>{{end}}
` + pageFoot))
