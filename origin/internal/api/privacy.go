package api

import (
	_ "embed"
	"html/template"
	"net/http"
)

// Policy is the privacy policy, served as HTML and as JSON from one source
// so the two can never say different things.
type Policy struct {
	Title    string    `json:"title"`
	Version  string    `json:"version"`
	Summary  string    `json:"summary"`
	Sections []Section `json:"sections"`
}

// Section is one heading of the policy.
type Section struct {
	Heading    string   `json:"heading"`
	Paragraphs []string `json:"paragraphs"`
}

//go:embed privacy.html.tmpl
var privacyHTML string

var privacyTmpl = template.Must(template.New("privacy").Parse(privacyHTML))

func (s *Server) privacy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept")
	w.Header().Set("Cache-Control", "public, max-age=300")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, privacyPolicy)
		return
	}
	writeHTML(w, privacyTmpl, privacyPolicy)
}

// writeHTML renders a server-side page: no script, no third-party
// resource, readable in Tor Browser at its Safest level.
func writeHTML(w http.ResponseWriter, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "+
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_ = t.Execute(w, data)
}
