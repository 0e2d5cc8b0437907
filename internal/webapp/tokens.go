package webapp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/todoclient"
)

// errSignInAgain: the session has no usable tokens any more (refresh
// refused, record gone); the person must sign in again.
var errSignInAgain = errors.New("sign-in expired")

// tokenRecord is what the web app keeps for one signed-in session. It never
// leaves the server.
type tokenRecord struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Subject      string    `json:"sub"` // of the verified ID token
	Expiry       time.Time `json:"expiry,omitzero"`
	Obtained     time.Time `json:"obtained"`
	// TokenType is the access token's token_type: "DPoP" for a token bound
	// to DPoPKey (RFC 9449), "Bearer" or, in a record from before the web
	// app used DPoP, "" for a bearer token.
	TokenType string `json:"token_type,omitempty"`
	// DPoPKey is the session's DPoP key, made at sign-in (dpopkey.go) and
	// kept as a private JWK; refreshes and, with a DPoP token, API calls
	// carry its proofs. Nil in a record from before the web app used DPoP:
	// no proofs.
	DPoPKey *dpop.Key `json:"dpop_key,omitempty"`
}

// apiToken is the access token as the API is called with it.
func (t tokenRecord) apiToken() todoclient.Token {
	return todoclient.Token{AccessToken: t.AccessToken, Type: t.TokenType, Key: t.DPoPKey}
}

// maxRefreshMargin bounds how long before expiry an access token is
// refreshed; for short-lived tokens the margin is a third of the lifetime.
const maxRefreshMargin = 30 * time.Second

// fresh reports whether the access token can still be used at now, with a
// margin so that it does not expire on its way to the API.
func (t tokenRecord) fresh(now time.Time) bool {
	if t.AccessToken == "" {
		return false
	}
	if t.Expiry.IsZero() {
		return true // no expires_in: used until the API refuses it
	}
	margin := min(t.Expiry.Sub(t.Obtained)/3, maxRefreshMargin)
	return now.Add(margin).Before(t.Expiry)
}

// tokenStore keeps token records in the scs store, next to the sessions but
// under keys of their own ("webapp-tokens:" + a random grant ID kept in the
// session). Keeping them out of the session data means a request that loaded
// the session before a refresh and saves it afterwards (a flash message, say)
// cannot write an already-rotated refresh token back. Records are sealed with
// a key derived from the server secret, bound to their key.
type tokenStore struct {
	store    scs.Store
	key      *secret.Key
	lifetime time.Duration
}

const tokenKeyPrefix = "webapp-tokens:"

// newGrantID names a new token record: 128 random bits (crypto/rand.Text,
// 26 characters). It never leaves the server. The prefixed keys it makes
// (tokenKeyPrefix, leasePrefix) fit the 43-character key column of the MySQL
// sessions table, which a 43-character token from secret.NewToken would
// overflow.
func newGrantID() string { return rand.Text() }

func (ts *tokenStore) load(ctx context.Context, grant string) (tokenRecord, error) {
	if grant == "" {
		return tokenRecord{}, errSignInAgain
	}
	k := tokenKeyPrefix + grant
	var (
		b     []byte
		found bool
		err   error
	)
	if cs, ok := ts.store.(scs.CtxStore); ok {
		b, found, err = cs.FindCtx(ctx, k)
	} else {
		b, found, err = ts.store.Find(k)
	}
	if err != nil {
		return tokenRecord{}, fmt.Errorf("%w: reading tokens: %w", errSessionStore, err)
	}
	if !found {
		return tokenRecord{}, errSignInAgain
	}
	plain, err := ts.key.Open(b, []byte(k))
	if err != nil {
		return tokenRecord{}, fmt.Errorf("%w: opening token record: %w", errSignInAgain, err)
	}
	var rec tokenRecord
	if err := json.Unmarshal(plain, &rec); err != nil {
		return tokenRecord{}, fmt.Errorf("%w: decoding token record: %w", errSignInAgain, err)
	}
	return rec, nil
}

func (ts *tokenStore) save(ctx context.Context, grant string, rec tokenRecord) error {
	k := tokenKeyPrefix + grant
	plain, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding token record: %w", err)
	}
	b, err := ts.key.Seal(plain, []byte(k))
	if err != nil {
		return fmt.Errorf("sealing token record: %w", err)
	}
	expiry := time.Now().Add(ts.lifetime)
	if cs, ok := ts.store.(scs.CtxStore); ok {
		err = cs.CommitCtx(ctx, k, b, expiry)
	} else {
		err = ts.store.Commit(k, b, expiry)
	}
	if err != nil {
		return fmt.Errorf("%w: saving tokens: %w", errSessionStore, err)
	}
	return nil
}

func (ts *tokenStore) delete(ctx context.Context, grant string) error {
	if grant == "" {
		return nil
	}
	k := tokenKeyPrefix + grant
	var err error
	if cs, ok := ts.store.(scs.CtxStore); ok {
		err = cs.DeleteCtx(ctx, k)
	} else {
		err = ts.store.Delete(k)
	}
	if err != nil {
		return fmt.Errorf("%w: deleting tokens: %w", errSessionStore, err)
	}
	return nil
}

// accessToken returns the token record of the session's grant with a usable
// access token, refreshing it first when it is about to expire. stale, when
// not empty, is an access token the API just refused: a new one is fetched
// unless another request already did.
//
// Refreshes of one grant are serialized (lockGrant): by a lock held in this
// process and, across instances of the web app, by a lease in the shared
// session store. The record is read again once the lock is held, so a
// request that waited finds the token its predecessor fetched and never
// presents the refresh token that was just rotated away (RFC 9700 §4.14.2
// makes the server treat that as reuse and revoke the whole family).
func (s *Server) accessToken(ctx context.Context, grant, stale string) (tokenRecord, error) {
	rec, err := s.tokens.load(ctx, grant)
	if err != nil {
		return tokenRecord{}, err
	}
	if stale == "" && rec.fresh(s.now()) {
		return rec, nil
	}

	unlock, current, err := s.lockGrant(ctx, grant, stale)
	if err != nil {
		return tokenRecord{}, err
	}
	if unlock == nil {
		return current, nil // another instance refreshed meanwhile
	}
	defer unlock()

	// Re-read: whoever held the lock before may have refreshed already.
	rec, err = s.tokens.load(ctx, grant)
	if err != nil {
		return tokenRecord{}, err
	}
	if rec.fresh(s.now()) && (stale == "" || rec.AccessToken != stale) {
		return rec, nil
	}
	if rec.RefreshToken == "" {
		return tokenRecord{}, errSignInAgain
	}
	p, err := s.disc.get(ctx)
	if err != nil {
		return tokenRecord{}, err
	}

	// The refresh and the save of its result must not be cut short by the
	// browser going away: once the server has rotated the refresh token,
	// losing the answer would leave only the spent one.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	// RFC 6749 §6: refresh with the current refresh token, and a proof of
	// the session's DPoP key if it has one (RFC 9449 §5); x/oauth2 keeps the
	// old refresh token only if the server sends no new one.
	tok, err := p.oauth2.TokenSource(oidc.ClientContext(rctx, withProofs(s.httpClient, rec.DPoPKey)),
		&oauth2.Token{RefreshToken: rec.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < http.StatusInternalServerError {
			// invalid_grant and friends: the grant is gone (revoked,
			// expired, reused). The person signs in again.
			s.log.InfoContext(ctx, "refresh refused; asking to sign in again",
				slog.String("error_code", re.ErrorCode))
			if derr := s.tokens.delete(rctx, grant); derr != nil {
				s.log.WarnContext(ctx, "deleting refused tokens", slog.String("error", derr.Error()))
			}
			return tokenRecord{}, errSignInAgain
		}
		return tokenRecord{}, fmt.Errorf("%w: refreshing token: %w", errAuthzUnavailable, err)
	}
	next := tokenRecord{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		IDToken:      rec.IDToken,
		Subject:      rec.Subject,
		Expiry:       tok.Expiry,
		Obtained:     s.now(),
		TokenType:    tok.TokenType,
		DPoPKey:      rec.DPoPKey,
	}
	// OpenID Connect Core §12.2: a refreshed ID token is kept (for
	// id_token_hint at sign-out) only if it verifies and is about the same
	// person.
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if idt, verr := p.verifier.Verify(rctx, raw); verr == nil && idt.Subject == rec.Subject {
			next.IDToken = raw
		}
	}
	if err := s.tokens.save(rctx, grant, next); err != nil {
		return tokenRecord{}, err
	}
	return next, nil
}

// keyedMutex is a set of mutexes, one per key, created on demand and
// dropped when nobody holds or waits for them. Waiting honours the context.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{} // holds one value while locked
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
