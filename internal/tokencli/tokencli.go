package tokencli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-dev/gatehouse/internal/loopback"
	"golang.org/x/oauth2"
)

// Options say whom Get asks for a token, for what, and how it reaches the
// person.
type Options struct {
	Issuer   string   // the authorization server's issuer URL
	ClientID string   // a public client registered for http://127.0.0.1/callback
	Scopes   []string // the scopes asked for
	// HTTPClient makes the calls to the authorization server; it must
	// trust the server's certificate.
	HTTPClient *http.Client
	// OpenBrowser opens the authorization address in the person's
	// browser (SystemBrowser); nil leaves that to the person. Its error
	// is only noted: the address is shown either way.
	OpenBrowser func(ctx context.Context, url string) error
	// Out is where the address to open and notes go (standard error): the
	// token never goes there.
	Out io.Writer
	// Timeout bounds the whole sign-in; 0 means 5 minutes.
	Timeout time.Duration
}

// Token is the token response (RFC 6749 §5.1) without the ID token.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// DefaultTimeout is how long Get waits for the person when Options say
// nothing.
const DefaultTimeout = 5 * time.Minute

// callbackPath is the registered redirect's path.
const callbackPath = "/callback"

// Get signs the person in through their browser and returns the tokens the
// authorization server issued. Its errors are one line saying what went
// wrong: the server unreachable, the person or the server refusing, no
// answer within the timeout.
func Get(ctx context.Context, o Options) (Token, error) {
	o.Issuer = strings.TrimRight(o.Issuer, "/")
	if o.Issuer == "" || o.ClientID == "" {
		return Token{}, errors.New("an issuer and a client ID are required")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	// What is still running when Get returns (the browser's opener, a late
	// request to the loopback address) writes nothing more.
	out := &closingWriter{w: o.Out}
	defer out.close()
	o.Out = out
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, o.HTTPClient) // used by discovery, the token request and the key set

	provider, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return Token{}, fmt.Errorf("cannot use the authorization server %s: %w", o.Issuer, err)
	}
	var meta struct {
		IssParameter bool `json:"authorization_response_iss_parameter_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return Token{}, fmt.Errorf("the authorization server's discovery document: %w", err)
	}

	// The addresses come from the server's discovery document: the
	// authorization address is handed to the system's opener, so it must be
	// a web address (not a file, a UNC path or an option).
	endpoint := provider.Endpoint()
	for _, e := range []struct{ name, raw string }{{"authorization_endpoint", endpoint.AuthURL}, {"token_endpoint", endpoint.TokenURL}} {
		if err := checkEndpoint(e.raw); err != nil {
			return Token{}, fmt.Errorf("the authorization server's %s: %w", e.name, err)
		}
	}

	// RFC 8252 §7.3 and §8.3: the loopback IP literal, any free port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Token{}, fmt.Errorf("listening on the loopback interface for the browser's answer: %w", err)
	}
	state, nonce := rand.Text(), rand.Text()      // 128 bits each
	endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body, no secret
	cfg := &oauth2.Config{
		ClientID:    o.ClientID,
		Endpoint:    endpoint,
		RedirectURL: "http://" + l.Addr().String() + callbackPath,
		Scopes:      o.Scopes,
	}
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	openID := slices.Contains(o.Scopes, oidc.ScopeOpenID)
	if openID {
		opts = append(opts, oidc.Nonce(nonce))
	}
	authURL := cfg.AuthCodeURL(state, opts...)

	cb := &callback{
		host: l.Addr().String(), state: state, issuer: o.Issuer, requireIss: meta.IssParameter,
		out: o.Out, done: make(chan result, 1),
		redeem: func(code string) (Token, error) {
			return redeem(ctx, cfg, provider, code, verifier, nonce, openID)
		},
	}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer func() {
		// Let the last page reach the browser, briefly.
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()

	fmt.Fprintf(o.Out, "Open this address in your browser: %s\n", authURL)
	if o.OpenBrowser != nil {
		go func() {
			if err := o.OpenBrowser(ctx, authURL); err != nil && ctx.Err() == nil {
				fmt.Fprintf(o.Out, "(could not open a browser: %s)\n", oneLine(err.Error()))
			}
		}()
	}
	fmt.Fprintf(o.Out, "Waiting for the browser to come back to %s …\n", cfg.RedirectURL)

	select {
	case r := <-cb.done:
		return r.token, r.err
	case <-ctx.Done():
		if parent.Err() != nil {
			return Token{}, fmt.Errorf("interrupted before the sign-in finished: %w", parent.Err())
		}
		return Token{}, fmt.Errorf("no answer from the browser within %s: run the command again and finish the sign-in in time", o.Timeout)
	}
}

// redeem exchanges the code, with the PKCE verifier, and checks the ID
// token when one comes back: its signature, issuer, audience, expiry and
// nonce.
func redeem(ctx context.Context, cfg *oauth2.Config, provider *oidc.Provider, code, verifier, nonce string, openID bool) (Token, error) {
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			return Token{}, fmt.Errorf("the token request was refused: %s", describe(re.ErrorCode, re.ErrorDescription))
		}
		return Token{}, fmt.Errorf("the token request failed: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" && openID {
		return Token{}, errors.New("the token response has no ID token although the sign-in asked for openid")
	}
	if raw != "" {
		idt, err := provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
		if err != nil {
			return Token{}, fmt.Errorf("the ID token does not verify: %w", err)
		}
		if openID && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			return Token{}, errors.New("the ID token's nonce is not the one this sign-in sent")
		}
	}
	scope, _ := tok.Extra("scope").(string)
	return Token{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresIn: tok.ExpiresIn,
		RefreshToken: tok.RefreshToken, Scope: scope,
	}, nil
}

// describe is an OAuth error code with its description, if any.
func describe(code, description string) string {
	if description == "" {
		return code
	}
	return code + " (" + description + ")"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkEndpoint accepts an https address, or an http one on the loopback
// interface, with nothing a browser opener could take for something else.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch {
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		return fmt.Errorf("%q contains spaces or control characters", raw)
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return fmt.Errorf("%q is not an https address (or http on the loopback interface)", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials", raw)
	}
	return nil
}

// closingWriter passes writes on until it is closed, then drops them.
type closingWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (c *closingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *closingWriter) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}
