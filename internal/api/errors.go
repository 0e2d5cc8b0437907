package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/bearer"
)

// Eve's error messages.
const (
	msgNotFound   = "The requested URL was not found on the server."
	msgNoIfMatch  = "To edit a document its etag must be provided using the If-Match header"
	msgStaleETag  = "Client and server etags don't match"
	msgNotAllowed = "The method is not allowed for the requested URL."
)

// writeJSON answers v, a document or a list of them, as JSON, with <, >
// and & in strings escaped as encoding/json does by default.
func writeJSON(w http.ResponseWriter, status int, v any) {
	encodeJSON(w, status, v, true)
}

// writeErrorJSON answers an error envelope as JSON with <, > and & as they
// are, so that a message such as "Bearer <token>" reads as written; the
// answer is application/json with nosniff, which no browser renders as
// HTML.
func writeErrorJSON(w http.ResponseWriter, status int, v any) {
	encodeJSON(w, status, v, false)
}

func encodeJSON(w http.ResponseWriter, status int, v any, escapeHTML bool) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(v)
}

// retryAfter is the Retry-After, in seconds, sent with a 503 (RFC 9110
// §10.2.3): the database or the authorization server is briefly away.
const retryAfter = "5"

// writeError answers in Eve's error envelope:
// {"_status":"ERR","_error":{"code":…,"message":…}}. A 503 carries a
// Retry-After unless one is set already.
func writeError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeErrorJSON(w, status, map[string]any{
		"_status": "ERR",
		"_error":  map[string]any{"code": status, "message": msg},
	})
}

// writeIssues answers a POST's 422 with Eve's _issues (or a bulk POST's
// _items) and _error.
func writeIssues(w http.ResponseWriter, is issues, items []map[string]any) {
	body := map[string]any{
		"_status": "ERR",
		"_error": map[string]any{"code": http.StatusUnprocessableEntity,
			"message": "Insertion failure: " + strconv.Itoa(max(1, countErr(items))) + " document(s) contain(s) error(s)"},
	}
	if items != nil {
		body["_items"] = items
	} else {
		body["_issues"] = is
	}
	writeErrorJSON(w, http.StatusUnprocessableEntity, body)
}

// writeUpdateIssues answers a PATCH's or PUT's 422 as Eve does: _issues
// without _error.
func writeUpdateIssues(w http.ResponseWriter, is issues) {
	writeErrorJSON(w, http.StatusUnprocessableEntity, map[string]any{"_status": "ERR", "_issues": is})
}

func countErr(items []map[string]any) int {
	n := 0
	for _, it := range items {
		if it["_status"] == "ERR" {
			n++
		}
	}
	return n
}

// writeBearerError renders a rejected token in Eve's envelope, keeping the
// RFC 6750 §3 challenge.
func writeBearerError(w http.ResponseWriter, _ *http.Request, e *bearer.Error) {
	e.SetHeaders(w.Header()) // the challenges, one header each, and a DPoP nonce
	msg := e.Description
	switch e.Status {
	case http.StatusUnauthorized:
		msg = "Please provide proper credentials: " + e.Description
	case http.StatusForbidden:
		msg = "You don't have the permission to access the requested resource: " + e.Description
	}
	writeError(w, e.Status, msg)
}
