package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/picket-edge/picket/internal/apierror"
)

// readJSON decodes the request body into dst (one JSON value, nothing after
// it). On failure it writes the error response and returns false: 413 past
// the body cap, 400 for anything that is not well-formed JSON of dst's shape.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	if err := decodeStrict(body, dst); err != nil {
		apierror.Write(w, http.StatusBadRequest, "malformed_json",
			"request body is not the expected JSON", RequestID(r.Context()))
		return false
	}
	return true
}

// readOptionalJSON is readJSON for routes where a body may be absent; a nil
// dst only checks that a present body is well-formed JSON.
func (s *Server) readOptionalJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	if len(body) == 0 {
		return true
	}
	if dst == nil {
		var v any
		dst = &v
	}
	if err := decodeStrict(body, dst); err != nil {
		apierror.Write(w, http.StatusBadRequest, "malformed_json",
			"request body is not well-formed JSON", RequestID(r.Context()))
		return false
	}
	return true
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeTooLarge(w, r)
		return nil, false
	case err != nil:
		apierror.Write(w, http.StatusBadRequest, "bad_body",
			"request body could not be read", RequestID(r.Context()))
		return nil, false
	}
	return body, true
}

func decodeStrict(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// writeJSON sends v as a JSON document with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
