// Package apierror writes picket's one JSON error shape. The gateway modules
// and the origin API both use it so that the app parses a single format:
//
//	{"error":{"code":"rate_limited","message":"too many requests","request_id":"..."}}
//
// Codes are stable identifiers the app may branch on; messages are for humans
// and never carry internal error text.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Body is the JSON document of an error response.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the error object inside Body.
type Detail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Write sends status with the error body. Headers already set on w (such as
// Allow or Retry-After) are kept.
func Write(w http.ResponseWriter, status int, code, message, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Error: Detail{
		Code:      code,
		Message:   message,
		RequestID: requestID,
	}})
}
