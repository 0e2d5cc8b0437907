package bearer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
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
	// JKT is the thumbprint of the DPoP key the token is bound to, its
	// "cnf"."jkt" (RFC 9449 §6); "" for a bearer token. Authenticate
	// accepts a bound token only with a proof of that key (WithDPoP).
	JKT string
	// AuthTime, ACR and AMR say when and how the person signed in (the
	// auth_time, acr and amr claims, RFC 9068 §2.2.3.1): AMR lists the
	// methods (RFC 8176: "pwd", "otp", "hwk", "swk", "mfa"), ACR the class
	// they reached (Gatehouse: "aal1", or "aal2" with a second factor).
	// Zero when the token does not carry them (a client's own token). A
	// claim of the wrong type is left out, not an error.
	AuthTime time.Time
	ACR      string
	AMR      []string
	// Extra holds every claim of the token (or introspection response).
	Extra map[string]any
}

// HasAMR reports whether the person signed in with method (an "amr"
// value, e.g. "mfa" for more than one factor, "hwk" for a passkey).
func (c *Claims) HasAMR(method string) bool { return slices.Contains(c.AMR, method) }

// setAuthContext fills AuthTime, ACR and AMR from the token's claims.
func (c *Claims) setAuthContext(claims map[string]any) {
	if t, ok := claims["auth_time"].(float64); ok && t > 0 {
		c.AuthTime = time.Unix(int64(t), 0)
	}
	if acr, ok := claims["acr"].(string); ok {
		c.ACR = acr
	}
	if list, ok := claims["amr"].([]any); ok {
		for _, m := range list {
			if m, ok := m.(string); ok {
				c.AMR = append(c.AMR, m)
			}
		}
	}
}

// HasScope reports whether the token was granted scope.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Scheme is the authentication scheme the token is accepted under:
// SchemeDPoP for a token bound to a key, SchemeBearer otherwise.
func (c *Claims) Scheme() string {
	if c.JKT != "" {
		return SchemeDPoP
	}
	return SchemeBearer
}

// Verifier checks a bearer token and returns its claims. A token that is not
// acceptable gives an error wrapping ErrInvalidToken; any other error means
// the check itself could not be made (for example the JWKS is unreachable).
// A token whose Claims.JKT is set is bound to a DPoP key: Authenticate
// accepts it only with a proof of that key, and code that calls Verify
// itself must refuse it or check the proof as Authenticate does.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

// ErrInvalidToken is wrapped by every error that rejects a token.
var ErrInvalidToken = errors.New("invalid token")

// Authentication schemes an access token is sent under: Bearer (RFC 6750
// §2.1) and DPoP, for a token bound to a key (RFC 9449 §7.1).
const (
	SchemeBearer = "Bearer"
	SchemeDPoP   = "DPoP"
)

// Error is a rejected request, as RFC 6750 §3.1 and RFC 9449 §7.1 describe
// it.
type Error struct {
	Status int // 400, 401, 403 or 503
	// Code is invalid_request, invalid_token, insufficient_scope,
	// invalid_dpop_proof or use_dpop_nonce; "" when no token was sent.
	Code        string
	Description string
	Scope       string // the scope needed, for insufficient_scope
	// Scheme is the authentication scheme the error is about, whose
	// challenge carries Code: SchemeBearer or SchemeDPoP. "" stands for the
	// first of Schemes (no token was sent, or the Authorization header
	// could not be read).
	Scheme string
	// Schemes are the schemes the resource accepts tokens under, each
	// challenged for (RFC 9449 §7.2); nil stands for Bearer alone.
	// Authenticate sets it from its options.
	Schemes []string
	// Nonce is, for use_dpop_nonce, the nonce the request's proof must
	// carry: the answer sends it in a DPoP-Nonce header (RFC 9449 §9).
	Nonce string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return "bearer: " + e.Description
	}
	return "bearer: " + e.Code + ": " + e.Description
}

// Challenges are the WWW-Authenticate challenges for e (RFC 6750 §3, RFC
// 9449 §7.1), one per scheme the resource accepts: first the one of
// e.Scheme, which carries the error, then the others bare. A DPoP challenge
// lists the proof algorithms accepted (algs). When no token was sent (Code
// is ""), no challenge carries an error: RFC 6750 §3.1 says such a
// challenge should carry no error code or other error information, so
// Description stays out of it too. With DPoP accepted alongside Bearer, a
// request without a token gets
//
//	Bearer
//	DPoP algs="ES256 EdDSA PS256 RS256"
func (e *Error) Challenges() []string {
	schemes := e.Schemes
	if len(schemes) == 0 {
		schemes = []string{SchemeBearer}
	}
	first := e.Scheme
	if first == "" {
		first = schemes[0]
	}
	out := []string{e.challenge(first, true)}
	for _, s := range schemes {
		if s != first {
			out = append(out, e.challenge(s, false))
		}
	}
	return out
}

// Challenge is the WWW-Authenticate header value for e: its Challenges in
// one value, comma-separated (RFC 9110 §11.6.1), such as
// `Bearer error="invalid_token", error_description="…"`. SetHeaders sends
// them as one header each, which more clients read.
func (e *Error) Challenge() string {
	return strings.Join(e.Challenges(), ", ")
}

// challenge is the challenge for scheme, with e's error if withError.
func (e *Error) challenge(scheme string, withError bool) string {
	var params []string
	add := func(k, v string) {
		if v != "" {
			params = append(params, k+`="`+paramValue(v)+`"`)
		}
	}
	if withError {
		if e.Code != "" {
			add("error", e.Code)
			add("error_description", e.Description)
		}
		add("scope", e.Scope)
	}
	if scheme == SchemeDPoP {
		algs := dpop.Algorithms()
		names := make([]string, len(algs))
		for i, a := range algs {
			names[i] = string(a)
		}
		add("algs", strings.Join(names, " "))
	}
	if len(params) == 0 {
		return scheme
	}
	return scheme + " " + strings.Join(params, ", ")
}

// paramValue keeps the characters RFC 6750 §3 allows in the values of a
// challenge's parameters (%x20-21 / %x23-5B / %x5D-7E), so that the value
// is one line and its quoted string cannot be escaped: a double quote
// becomes a single one, and any other character outside the set '?'.
func paramValue(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, s)
}

// SetHeaders sets in h the headers of the answer to e: for a 400, 401 or
// 403, the WWW-Authenticate challenges (Challenges), one header each; with
// a Nonce, the DPoP-Nonce header.
func (e *Error) SetHeaders(h http.Header) {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		h.Del("WWW-Authenticate")
		for _, c := range e.Challenges() {
			h.Add("WWW-Authenticate", c)
		}
	}
	if e.Nonce != "" {
		h.Set(dpop.HeaderNonce, e.Nonce)
	}
}

// ErrorHandler writes the response for a rejected request. It must set
// e's headers with e.SetHeaders (the WWW-Authenticate challenges for 400,
// 401 and 403, and DPoP-Nonce).
type ErrorHandler func(w http.ResponseWriter, r *http.Request, e *Error)

// WriteError is the default ErrorHandler: the headers (Error.SetHeaders)
// and a small JSON body with the OAuth error code and description. A
// request that sent no token gets the bare challenges and an empty body
// (RFC 6750 §3.1: no error code or other error information); an answer
// without an error code for another reason (503: the token could not be
// checked) has only the description.
func WriteError(w http.ResponseWriter, _ *http.Request, e *Error) {
	h := w.Header()
	e.SetHeaders(h)
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
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // descriptions such as "Bearer <token>" stay readable
	_ = enc.Encode(body)
}

// Option configures Authenticate, Middleware and RequireScope.
type Option func(*options)

type options struct {
	onError  ErrorHandler
	dpop     *dpop.Checker
	urlOf    func(*http.Request) string
	dpopOnly bool
}

// WithErrorHandler renders rejections with h instead of WriteError.
func WithErrorHandler(h ErrorHandler) Option { return func(o *options) { o.onError = h } }

// WithDPoP makes Authenticate and Middleware accept tokens bound to a DPoP
// key (RFC 9449 §7) besides bearer tokens. A bound token (Claims.JKT) is
// accepted only under the DPoP scheme ("Authorization: DPoP <token>"),
// with a proof in the request's DPoP header that checker accepts for this
// request — its method, its URL and this token — and that is signed with
// the token's key; under the Bearer scheme it is refused, proof or not. A
// token under the DPoP scheme that is not bound is refused too. Refusals
// challenge for both schemes.
//
// urlOf returns the URL the request was sent to, as the client saw it,
// which the proof's "htu" must match; nil stands for RequestURL, which is
// built from the request's Host header, a value the client chooses: with
// it, the check binds the proof to the method and path only. Give the
// public base URL whenever the API has one (always behind a proxy):
// func(r *http.Request) string { return publicURL + r.URL.EscapedPath() }.
//
// Without WithDPoP (or with a nil checker), a token bound to a key is
// always refused, since it must never work as a bearer token.
func WithDPoP(checker *dpop.Checker, urlOf func(*http.Request) string) Option {
	if urlOf == nil {
		urlOf = RequestURL
	}
	return func(o *options) { o.dpop, o.urlOf = checker, urlOf }
}

// DPoPOnly makes Authenticate and Middleware refuse every token that is not
// bound to a DPoP key, and challenge for the DPoP scheme only. Without
// WithDPoP, every token is refused.
func DPoPOnly() Option { return func(o *options) { o.dpopOnly = true } }

// RequestURL is the URL r was sent to as this server received it: https
// (http for a connection without TLS), r.Host and the path as it was sent
// ("/" if none), without the query. It is WithDPoP's default.
func RequestURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + r.Host + path
}

func newOptions(opts []Option) *options {
	o := &options{onError: WriteError}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// schemes are the schemes o accepts tokens under, for Error.Schemes.
func (o *options) schemes() []string {
	switch {
	case o.dpopOnly:
		return []string{SchemeDPoP}
	case o.dpop != nil:
		return []string{SchemeBearer, SchemeDPoP}
	}
	return nil
}

type ctxKey struct{}

// ClaimsFrom returns the claims Middleware stored in ctx. They are shared
// with every other request that carries the same token (verifiers cache
// them), so treat them as read-only: copy what you change, Extra included.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// WithClaims returns a context carrying c, as Middleware does.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// Credentials are the access token a request sends, and the scheme it
// sends it under.
type Credentials struct {
	Scheme string // SchemeBearer or SchemeDPoP, whatever the case the request used
	Token  string
}

// TokenFromRequest returns the token of an Authorization header of the
// Bearer scheme. RFC 6750 §2.1: the scheme is case-insensitive. A request
// with another scheme, DPoP included, gets the error of a request without a
// token. Tokens in the query string or a form body (§2.2, §2.3) leak into
// logs and are refused (RFC 9700 §4.3.2) with 400 invalid_request, which
// tells the client where to send the token: an access_token parameter in
// the query string always; one in a form body when the request has no
// token in its Authorization header (only then is the body read, and it is
// put back for whoever reads it next).
func TokenFromRequest(r *http.Request) (string, *Error) {
	c, e := credentials(r, false)
	return c.Token, e
}

// CredentialsFromRequest returns the token of an Authorization header of
// the Bearer or the DPoP scheme (RFC 9449 §7.1), whose names are
// case-insensitive, with its scheme. It does not look at the DPoP proof.
func CredentialsFromRequest(r *http.Request) (Credentials, *Error) {
	return credentials(r, true)
}

// credentials reads the Authorization header: Bearer, and DPoP if
// withDPoP.
func credentials(r *http.Request, withDPoP bool) (Credentials, *Error) {
	// RFC 6750 §3.1: a request without authentication, or with another
	// authentication scheme, gets a challenge without an error code.
	noToken := &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
	if withDPoP {
		noToken.Description = "an access token is required"
	}
	if r.URL.Query().Has(tokenParam) {
		return Credentials{}, tokenInRequest("the URL")
	}
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return Credentials{}, noTokenOrInBody(r, noToken)
	}
	if len(h) > 1 {
		return Credentials{}, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	switch {
	case strings.EqualFold(scheme, SchemeBearer):
		scheme = SchemeBearer
	case withDPoP && strings.EqualFold(scheme, SchemeDPoP):
		scheme = SchemeDPoP
	default:
		return Credentials{}, noTokenOrInBody(r, noToken)
	}
	token = strings.TrimSpace(token)
	if !ok || token == "" || strings.ContainsAny(token, " \t") {
		return Credentials{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: scheme,
			Description: "the Authorization header must be: " + scheme + " <token>"}
	}
	return Credentials{Scheme: scheme, Token: token}, nil
}

// tokenParam is the parameter RFC 6750 §2.2 and §2.3 send a token in.
const tokenParam = "access_token"

// maxFormPeek bounds the form body read for a token parameter: a token
// fits in it many times over, and a larger body is not looked at.
const maxFormPeek = 64 << 10

// tokenInRequest refuses a token sent in where (the URL, the request body)
// rather than in the Authorization header.
func tokenInRequest(where string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "access tokens in " + where + " are refused: send the token in the Authorization header"}
}

// noTokenOrInBody is the answer to r, which has no token in its
// Authorization header: tokenInRequest if its form body (of at most
// maxFormPeek bytes) has a token parameter, noToken otherwise. The body it
// reads is put back in r.
func noTokenOrInBody(r *http.Request, noToken *Error) *Error {
	if r.Body == nil || r.Body == http.NoBody {
		return noToken
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return noToken
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxFormPeek+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil || len(head) > maxFormPeek {
		return noToken
	}
	form, _ := url.ParseQuery(string(head)) // the pairs that parse
	if form.Has(tokenParam) {
		return tokenInRequest("the request body")
	}
	return noToken
}

// Authenticate takes the token from r and verifies it: a bearer token, and
// with WithDPoP a token bound to a key with the request's proof. Of opts,
// WithDPoP and DPoPOnly apply.
func Authenticate(r *http.Request, v Verifier, opts ...Option) (*Claims, *Error) {
	return newOptions(opts).authenticate(r, v)
}

func (o *options) authenticate(r *http.Request, v Verifier) (*Claims, *Error) {
	c, e := o.check(r, v)
	if e != nil {
		e.Schemes = o.schemes()
		return nil, e
	}
	return c, nil
}

// check is authenticate but for the schemes of the error.
func (o *options) check(r *http.Request, v Verifier) (*Claims, *Error) {
	cr, e := credentials(r, o.dpop != nil)
	if e != nil {
		return nil, e
	}
	invalidToken := func(scheme, description string) *Error {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: description, Scheme: scheme}
	}
	if cr.Scheme == SchemeBearer && o.dpopOnly {
		return nil, invalidToken(SchemeDPoP, "this resource accepts only access tokens bound to a DPoP key, sent as: DPoP <token>")
	}
	c, err := v.Verify(r.Context(), cr.Token)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, invalidToken(cr.Scheme, "the access token is invalid or expired")
		}
		return nil, unavailable("the access token cannot be checked now")
	}
	switch {
	case cr.Scheme == SchemeBearer && c.JKT != "" && o.dpop == nil:
		return nil, invalidToken(SchemeBearer, "the access token is bound to a DPoP key, which this resource does not check")
	case cr.Scheme == SchemeBearer && c.JKT != "":
		return nil, invalidToken(SchemeBearer, "the access token is bound to a DPoP key: send it as: DPoP <token>, with a proof")
	case cr.Scheme == SchemeDPoP && c.JKT == "":
		return nil, invalidToken(SchemeDPoP, "the access token is not bound to a DPoP key")
	case cr.Scheme == SchemeDPoP:
		if e := o.checkProof(r, cr.Token, c.JKT); e != nil {
			return nil, e
		}
	}
	return c, nil
}

// checkProof checks the DPoP proof of r, which sends token, bound to the
// key jkt (RFC 9449 §7.1).
func (o *options) checkProof(r *http.Request, token, jkt string) *Error {
	proof, perr := dpop.ProofFrom(r.Header)
	if perr != nil {
		return o.proofError(perr)
	}
	p, err := o.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: o.urlOf(r), AccessToken: token})
	var de *dpop.Error
	switch {
	case errors.As(err, &de):
		return o.proofError(de)
	case err != nil:
		// The replay store failed, or the checker or urlOf is misconfigured.
		return unavailable("the DPoP proof cannot be checked now")
	case p.JKT != jkt:
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: SchemeDPoP,
			Description: "the access token is not bound to the key of the DPoP proof"}
	}
	return nil
}

// proofError is the answer to a refused proof: 401 with the proof's error
// code under the DPoP scheme, and the current nonce when one is asked for.
func (o *options) proofError(de *dpop.Error) *Error {
	e := &Error{Status: http.StatusUnauthorized, Code: de.Code, Description: de.Description, Scheme: SchemeDPoP}
	if de.Code == dpop.UseNonce && o.dpop.Nonces != nil {
		e.Nonce = o.dpop.Nonces.Current()
	}
	return e
}

func unavailable(description string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Description: description}
}

// Middleware verifies the token of every request with v and stores its
// claims in the request context (see ClaimsFrom). Requests without a valid
// token are rejected with 401. Without WithDPoP it accepts bearer tokens
// only; with it, tokens bound to a DPoP key too.
func Middleware(v Verifier, opts ...Option) func(http.Handler) http.Handler {
	o := newOptions(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, e := o.authenticate(r, v)
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
// §3.1. Without claims in the context it answers 401. Of opts, only
// WithErrorHandler applies; pass the same one as to Middleware.
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
// Its 403 challenges under the scheme the token was accepted under.
func CheckScope(ctx context.Context, scope string) *Error {
	c, ok := ClaimsFrom(ctx)
	if !ok {
		return &Error{Status: http.StatusUnauthorized, Description: "a bearer token is required"}
	}
	if !c.HasScope(scope) {
		return &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the access token lacks the scope " + scope,
			Scope: scope, Scheme: c.Scheme(), Schemes: []string{c.Scheme()}}
	}
	return nil
}
