package api

import (
	"errors"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/origin/internal/accounts"
	"github.com/picket-edge/picket/origin/internal/events"
	"github.com/picket-edge/picket/origin/internal/unions"
)

// pageSize bounds every public list.
const pageSize = 50

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,47}$`)

func (a *app) unionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /unions", a.listUnions)
	mux.HandleFunc("POST /unions", a.authed(a.createUnion))
	mux.HandleFunc("GET /unions/{slug}", a.showUnion)
	mux.HandleFunc("GET /unions/{slug}/posts", a.showUnion)
	mux.HandleFunc("POST /unions/{slug}/posts", a.authed(a.createPost))
	mux.HandleFunc("POST /unions/{slug}/posts/{id}/report", a.authed(a.reportPost))
	mux.HandleFunc("POST /unions/{slug}/join", a.authed(a.join))
	mux.HandleFunc("POST /unions/{slug}/leave", a.authed(a.leave))
	mux.HandleFunc("GET /unions/{slug}/membership", a.authed(a.membership))
	mux.HandleFunc("GET /unions/{slug}/admin", a.authed(a.adminView))
}

func (a *app) listUnions(w http.ResponseWriter, r *http.Request) {
	list, err := a.unions.List(r.Context(), pageSize)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Accept")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"unions": list})
		return
	}
	writeHTML(w, unionListTmpl, list)
}

type unionPage struct {
	Union *unions.Union `json:"union"`
	Posts []unions.Post `json:"posts"`
}

func (a *app) showUnion(w http.ResponseWriter, r *http.Request) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	posts, err := a.unions.Posts(r.Context(), u.ID, pageSize)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Accept")
	page := unionPage{Union: u, Posts: posts}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, page)
		return
	}
	writeHTML(w, unionTmpl, page)
}

// union loads the union named in the path; on failure it has answered.
func (a *app) union(w http.ResponseWriter, r *http.Request) (*unions.Union, bool) {
	slug := r.PathValue("slug")
	if !slugPattern.MatchString(slug) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such union", RequestID(r.Context()))
		return nil, false
	}
	u, err := a.unions.BySlug(r.Context(), slug)
	if errors.Is(err, unions.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such union", RequestID(r.Context()))
		return nil, false
	}
	if err != nil {
		a.internalError(w, r, err)
		return nil, false
	}
	return u, true
}

func (a *app) createUnion(w http.ResponseWriter, r *http.Request, s session) {
	var req struct {
		Slug        string `json:"slug"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if !slugPattern.MatchString(req.Slug) || !textOK(req.Name, 1, 100) ||
		!textOK(req.Description, 0, 2000) {
		apierror.Write(w, http.StatusBadRequest, "bad_union",
			"slug must be 2-48 of a-z, 0-9, -; name 1-100 characters; description up to 2000",
			RequestID(r.Context()))
		return
	}

	u := &unions.Union{ID: accounts.NewID(), Slug: req.Slug, Name: req.Name, Description: req.Description}
	err := a.unions.Create(r.Context(), s.accountID, u)
	if errors.Is(err, unions.ErrSlugTaken) {
		apierror.Write(w, http.StatusConflict, "slug_taken", "that slug is taken", RequestID(r.Context()))
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.UnionCreated)
	writeJSON(w, http.StatusCreated, u)
}

func textOK(s string, minLen, maxLen int) bool {
	n := utf8.RuneCountInString(s)
	return utf8.ValidString(s) && n >= minLen && n <= maxLen
}

func (a *app) join(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	if err := a.unions.Join(r.Context(), s.accountID, u.ID); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.UnionJoined)
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) leave(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	left, err := a.unions.Leave(r.Context(), s.accountID, u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if left {
		a.record(r.Context(), events.UnionLeft)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) membership(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	member, err := a.unions.IsMember(r.Context(), s.accountID, u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	admin, err := a.unions.IsAdmin(r.Context(), s.accountID, u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"member": member, "admin": admin})
}

// adminView gives a union's admins aggregates only. No route returns a
// member list, to anyone: the server could not build one without trying
// every account against the key manager.
func (a *app) adminView(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	admin, err := a.unions.IsAdmin(r.Context(), s.accountID, u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if !admin {
		apierror.Write(w, http.StatusForbidden, "forbidden", "union admins only", RequestID(r.Context()))
		return
	}
	st, err := a.unions.Stats(r.Context(), u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if a.ballots != nil {
		if st.Ballots, err = a.ballots.CountForUnion(r.Context(), u.ID); err != nil {
			a.internalError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"union": u.Slug, "aggregates": st})
}

func (a *app) createPost(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	var req struct {
		Body string `json:"body"`
	}
	if !a.s.readJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Body) == "" || !textOK(req.Body, 1, 10000) {
		apierror.Write(w, http.StatusBadRequest, "bad_post", "a post is 1 to 10000 characters",
			RequestID(r.Context()))
		return
	}
	member, err := a.unions.IsMember(r.Context(), s.accountID, u.ID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if !member {
		apierror.Write(w, http.StatusForbidden, "not_member", "only members post in a union",
			RequestID(r.Context()))
		return
	}
	acc, err := a.accounts.AccountByID(r.Context(), s.accountID)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	p := &unions.Post{ID: accounts.NewID(), Author: acc.Pseudonym, Body: req.Body, CreatedAt: a.now().UTC()}
	if err := a.unions.AddPost(r.Context(), u.ID, p); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.PostCreated)
	writeJSON(w, http.StatusCreated, p)
}

func (a *app) reportPost(w http.ResponseWriter, r *http.Request, s session) {
	u, ok := a.union(w, r)
	if !ok {
		return
	}
	err := a.unions.Report(r.Context(), u.ID, r.PathValue("id"))
	if errors.Is(err, unions.ErrNotFound) {
		apierror.Write(w, http.StatusNotFound, "not_found", "no such post", RequestID(r.Context()))
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.record(r.Context(), events.PostReported)
	w.WriteHeader(http.StatusNoContent)
}

var unionListTmpl = template.Must(template.New("unions").Parse(pageHead + `
<h1>Unions</h1>
{{if .}}<ul>
{{range .}}<li><a href="/unions/{{.Slug}}">{{.Name}}</a></li>
{{end}}</ul>{{else}}<p>No unions yet.</p>{{end}}
` + pageFoot))

var unionTmpl = template.Must(template.New("union").Parse(pageHead + `
<h1>{{.Union.Name}}</h1>
<p>{{.Union.Description}}</p>
<h2>Posts</h2>
{{range .Posts}}<article>
<p><strong>{{.Author}}</strong> <small>{{.CreatedAt.Format "2006-01-02 15:04 UTC"}}</small></p>
<p>{{.Body}}</p>
</article>
{{else}}<p>No posts yet.</p>{{end}}
` + pageFoot))

const pageHead = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>picket</title>
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
article{border-top:1px solid #ccc}
</style>
</head>
<body>
<nav><a href="/unions">Unions</a> · <a href="/privacy">Privacy</a></nav>
<main>`

const pageFoot = `</main>
</body>
</html>
`
