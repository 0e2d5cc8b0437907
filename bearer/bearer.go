package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Claims are what a verified token says.
type Claims struct {
	Subject  string
	Issuer   string
	Audience []string
	ClientID string
	TokenID  string // jti
	Scopes   []string
	Expiry   time.Time
	IssuedAt time.Time
	// Extra holds every claim of the token (or introspection response).
	Extra map[string]any
}

// HasScope reports whether the token was granted scope.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Verifier checks a bearer token and returns its claims. A token that is not
// acceptable gives an error wrapping ErrInvalidToken; any other error means
// the check itself could not be made (for example the JWKS is unreachable).
type Verifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

// ErrInvalidToken is wrapped by every error that rejects a token.
var ErrInvalidToken = errors.New("invalid token")

// Error is a rejected request, as RFC 6750 §3.1 describes it.
type Error struct {
	Status      int    // 400, 401, 403 or 503
	Code        string // invalid_request, invalid_token, insufficient_scope; "" when no token was sent
	Description string
	Scope       string // the scope needed, for insufficient_scope
}

func (e *Error) Error() string {
	if e.Code == "" {
		return "bearer: " + e.Description
	}
	return "bearer: " + e.Code + ": " + e.Description
}

// Challenge is the WWW-Authenticate header value for e (RFC 6750 §3). When
// no token was sent (Code is ""), it is "Bearer" alone: RFC 6750 §3.1 says
// such a challenge should carry no error code or other error information,
// so Description stays out of it too.
func (e *Error) Challenge() string {
	var sb strings.Builder
	sb.WriteString("Bearer")
	sep := " "
	add := func(k, v string) {
		if v == "" {
			return
		}
		sb.WriteString(sep + k + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
		sep = ", "
	}
	if e.Code != "" {
		add("error", e.Code)
		add("error_description", e.Description)
	}
	add("scope", e.Scope)
	return sb.String()
}

// ErrorHandler writes the response for a rejected request. It must set the
// WWW-Authenticate header to e.Challenge() (for 401 and 403).
type ErrorHandler func(w http.ResponseWriter, r *http.Request, e *Error)

// WriteError is the default ErrorHandler: the challenge and a small JSON
// body with the OAuth error code and description. A request that sent no
// token gets the bare challenge and an empty body (RFC 6750 §3.1: no error
// code or other error information); an answer without an error code for
// another reason (503: the token could not be checked) has only the
// description.
func WriteError(w http.ResponseWriter, _ *http.Request, e *Error) {
	h := w.Header()
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusBadRequest {
		h.Set("WWW-Authenticate", e.Challenge())
	}
	h.Set("Cache-Control", "no-store")
	if e.Code == "" && e.Status == http.StatusUnauthorized {
		w.WriteHeader(e.Status)
		return
	}
	body := map[string]string{"error_description": e.Description}
	if e.Code != "" {
		body["error"] = e.Code
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// Option configures Middleware and RequireScope.
type Option func(*options)

type options struct{ onError ErrorHandler }

// WithErrorHandler renders rejections with h instead of WriteError.
func WithErrorHandler(h ErrorHandler) Option { return func(o *options) { o.onError = h } }

func newOptions(opts []Option) options {
	o := options{onError: WriteError}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

type ctxKey struct{}

// ClaimsFrom returns the claims Middleware stored in ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// WithClaims returns a context carrying c, as Middleware does.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// TokenFromRequest returns the bearer token of the Authorization header.
// RFC 6750 §2.1: the scheme is case-insensitive; this package does not accept
// tokens in the body or the query string (§2.2, §2.3), which leak into logs.
func TokenFromRequest(r *http.Request) (string, *Error) {
	// RFC 6750 §3.1: a request without authentication, or with another
	// authentication scheme, gets a challenge without an error code.
	noToken := &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", noToken
	}
	if len(h) > 1 {
		return "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", noToken
	}
	token = strings.TrimSpace(token)
	if !ok || token == "" || strings.ContainsAny(token, " \t") {
		return "", &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the Authorization header must be: Bearer <token>"}
	}
	return token, nil
}

// Authenticate takes the token from r and verifies it.
func Authenticate(r *http.Request, v Verifier) (*Claims, *Error) {
	token, e := TokenFromRequest(r)
	if e != nil {
		return nil, e
	}
	c, err := v.Verify(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid or expired"}
		}
		return nil, &Error{Status: http.StatusServiceUnavailable, Description: "the access token cannot be checked now"}
	}
	return c, nil
}

// Middleware verifies the bearer token of every request with v and stores
// its claims in the request context (see ClaimsFrom). Requests without a
// valid token are rejected with 401.
func Middleware(v Verifier, opts ...Option) func(http.Handler) http.Handler {
	o := newOptions(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, e := Authenticate(r, v)
			if e != nil {
				o.onError(w, r, e)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// RequireScope rejects requests whose token (verified by Middleware, which
// must run first) was not granted scope: 403 insufficient_scope, RFC 6750
// §3.1. Without claims in the context it answers 401.
func RequireScope(scope string, opts ...Option) func(http.Handler) http.Handler {
	o := newOptions(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e := CheckScope(r.Context(), scope); e != nil {
				o.onError(w, r, e)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// CheckScope is RequireScope's test, for handlers that decide per request.
func CheckScope(ctx context.Context, scope string) *Error {
	c, ok := ClaimsFrom(ctx)
	if !ok {
		return &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
	}
	if !c.HasScope(scope) {
		return &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the access token lacks the scope " + scope, Scope: scope}
	}
	return nil
}
