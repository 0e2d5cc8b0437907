package webapp

import "context"

// Session keys. Values are plain strings so the scs gob codec needs no type
// registration.
const (
	keyGrant     = "grant" // ID of the token record; set iff signed in
	keySubject   = "sub"
	keyName      = "name"
	keyEmail     = "email"
	keyFlash     = "flash"
	keyFlashKind = "flash_kind"
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
