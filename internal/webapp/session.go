package webapp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"time"
)

// Session keys. Values are plain strings so the scs gob codec needs no type
// registration.
const (
	keyGrant     = "grant" // ID of the token record; set iff signed in
	keySubject   = "sub"
	keyName      = "name"
	keyEmail     = "email"
	keyFlash     = "flash"
	keyFlashKind = "flash_kind"
	keyAttempts  = "signin" // JSON list of pending sign-in attempts
)

// user is the signed-in person as shown on the pages.
type user struct {
	Subject, Name, Email string
}

// signedIn returns the person and the grant ID of the session, if any.
func (s *Server) signedIn(ctx context.Context) (user, string, bool) {
	grant := s.sessions.GetString(ctx, keyGrant)
	if grant == "" {
		return user{}, "", false
	}
	return user{
		Subject: s.sessions.GetString(ctx, keySubject),
		Name:    s.sessions.GetString(ctx, keyName),
		Email:   s.sessions.GetString(ctx, keyEmail),
	}, grant, true
}

// forget drops the sign-in from the session (after the tokens were lost),
// keeping the session itself so a message can still be shown.
func (s *Server) forget(ctx context.Context) {
	for _, k := range []string{keyGrant, keySubject, keyName, keyEmail} {
		s.sessions.Remove(ctx, k)
	}
}

type flash struct {
	Kind    string // "ok" or "error"
	Message string
}

func (s *Server) setFlash(ctx context.Context, kind, msg string) {
	s.sessions.Put(ctx, keyFlash, msg)
	s.sessions.Put(ctx, keyFlashKind, kind)
}

func (s *Server) popFlash(ctx context.Context) *flash {
	msg := s.sessions.PopString(ctx, keyFlash)
	kind := s.sessions.PopString(ctx, keyFlashKind)
	if msg == "" {
		return nil
	}
	return &flash{Kind: kind, Message: msg}
}

// attempt is one authorization request in flight: its state, nonce and PKCE
// verifier, bound to this browser's session (RFC 9700 §2.1, §4.7.1).
type attempt struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Created  time.Time `json:"created"`
}

const (
	// maxAttempts pending sign-ins per session (several tabs), newest kept.
	maxAttempts = 3
	// attemptTTL: an attempt older than this is not accepted any more.
	attemptTTL = 10 * time.Minute
)

func (s *Server) attempts(ctx context.Context) []attempt {
	var as []attempt
	if raw := s.sessions.GetString(ctx, keyAttempts); raw != "" {
		_ = json.Unmarshal([]byte(raw), &as) // a damaged list is an empty one
	}
	now := s.now()
	live := as[:0]
	for _, a := range as {
		if now.Sub(a.Created) < attemptTTL {
			live = append(live, a)
		}
	}
	return live
}

func (s *Server) putAttempts(ctx context.Context, as []attempt) {
	if len(as) == 0 {
		s.sessions.Remove(ctx, keyAttempts)
		return
	}
	b, _ := json.Marshal(as)
	s.sessions.Put(ctx, keyAttempts, string(b))
}

func (s *Server) pushAttempt(ctx context.Context, a attempt) {
	as := append(s.attempts(ctx), a)
	if len(as) > maxAttempts {
		as = as[len(as)-maxAttempts:]
	}
	s.putAttempts(ctx, as)
}

// popAttempt removes and returns the attempt with the given state: a state
// is usable once. Every pending state is compared, in constant time.
func (s *Server) popAttempt(ctx context.Context, state string) (attempt, bool) {
	as := s.attempts(ctx)
	var (
		found attempt
		ok    bool
		rest  []attempt
	)
	for _, a := range as {
		if subtle.ConstantTimeCompare([]byte(a.State), []byte(state)) == 1 {
			found, ok = a, true
			continue
		}
		rest = append(rest, a)
	}
	if ok {
		s.putAttempts(ctx, rest)
	}
	return found, ok
}
