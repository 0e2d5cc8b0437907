package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bearer"
)

// TestWriteBearerError: rejected tokens are answered in Eve's envelope with
// the RFC 6750 §3 challenge. A request that carries no token gets a challenge
// without error code or error_description (RFC 6750 §3.1); the body keeps
// Eve's envelope with a message for a person.
func TestWriteBearerError(t *testing.T) {
	noHeader := httptest.NewRequest(http.MethodGet, "/api/todos", nil)
	_, noToken := bearer.Authenticate(noHeader, nil) // no token: the verifier is never asked
	basic := httptest.NewRequest(http.MethodGet, "/api/todos", nil)
	basic.Header.Set("Authorization", "Basic YTpi")
	_, otherScheme := bearer.Authenticate(basic, nil)
	empty := httptest.NewRequest(http.MethodGet, "/api/todos", nil)
	empty.Header.Set("Authorization", "Bearer ")
	_, malformed := bearer.Authenticate(empty, nil)
	_, inURL := bearer.Authenticate(httptest.NewRequest(http.MethodGet, "/api/todos?access_token=x", nil), nil)
	tests := []struct {
		name      string
		e         *bearer.Error
		status    int
		challenge string
		message   string
	}{
		{"no token", noToken, http.StatusUnauthorized, "Bearer",
			"Please provide proper credentials: a bearer token is required"},
		{"another authentication scheme", otherScheme, http.StatusUnauthorized, "Bearer",
			"Please provide proper credentials: a bearer token is required"},
		{"malformed Authorization header", malformed, http.StatusUnauthorized,
			`Bearer error="invalid_token", error_description="the Authorization header must be: Bearer <token>"`,
			"Please provide proper credentials: the Authorization header must be: Bearer <token>"},
		{"token in the URL", inURL, http.StatusBadRequest,
			`Bearer error="invalid_request", error_description="access tokens in the URL are refused: send the token in the Authorization header"`,
			"access tokens in the URL are refused: send the token in the Authorization header"},
		{"invalid token", &bearer.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid or expired"},
			http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token is invalid or expired"`,
			"Please provide proper credentials: the access token is invalid or expired"},
		{"insufficient scope", &bearer.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the access token lacks the scope todos:write", Scope: "todos:write"},
			http.StatusForbidden, `Bearer error="insufficient_scope", error_description="the access token lacks the scope todos:write", scope="todos:write"`,
			"You don't have the permission to access the requested resource: the access token lacks the scope todos:write"},
		{"token cannot be checked", &bearer.Error{Status: http.StatusServiceUnavailable, Description: "the access token cannot be checked now"},
			http.StatusServiceUnavailable, "", "the access token cannot be checked now"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e == nil {
				t.Fatal("no error to write")
			}
			w := httptest.NewRecorder()
			writeBearerError(w, noHeader, tc.e)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if got := strings.Join(w.Header().Values("WWW-Authenticate"), ", "); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			// <, > and & as they are, not as \u003c escapes.
			if !strings.Contains(w.Body.String(), `"message":"`+tc.message+`"`) {
				t.Errorf("body = %s, want the message %q as is", w.Body, tc.message)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if len(body) != 2 || string(body["_status"]) != `"ERR"` {
				t.Errorf("body = %s, want Eve's envelope with only _status and _error", w.Body)
			}
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body["_error"], &e); err != nil || e.Code != tc.status || e.Message != tc.message {
				t.Errorf("_error = %s, want code %d and message %q", body["_error"], tc.status, tc.message)
			}
		})
	}
}
