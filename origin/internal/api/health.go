package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/picket-edge/picket/internal/apierror"
)

// healthBody is the document of GET /health. On 503 it also carries the
// error object of picket's error shape, so a client that only knows that
// shape still finds a code and the request id.
type healthBody struct {
	Status    string            `json:"status"`
	Databases map[string]string `json:"databases"`
	Error     *apierror.Detail  `json:"error,omitempty"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HealthTimeout)
	defer cancel()
	results := s.cfg.Databases.Health(ctx)

	body := healthBody{Status: "ok", Databases: make(map[string]string, len(s.cfg.Names))}
	var down []string
	for _, name := range s.cfg.Names {
		state := "ok"
		if err, seen := results[name]; !seen || err != nil {
			state = "down"
			down = append(down, name)
		}
		body.Databases[name] = state
	}

	w.Header().Set("Cache-Control", "no-store")
	if len(down) == 0 {
		writeJSON(w, http.StatusOK, body)
		return
	}
	body.Status = "degraded"
	body.Error = &apierror.Detail{
		Code:      "database_unavailable",
		Message:   "unavailable: " + strings.Join(down, ", "),
		RequestID: RequestID(r.Context()),
	}
	writeJSON(w, http.StatusServiceUnavailable, body)
}
