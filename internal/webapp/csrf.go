package webapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// keyCSRFSeed holds a random value per session; the form token is an HMAC of
// it under a key derived from the server secret. The seed is replaced at
// sign-in, so a token seen before sign-in is useless after it.
const keyCSRFSeed = "csrf"

// csrfField is the name of the hidden form field carrying the token.
const csrfField = "csrf"

// csrfToken returns the token for forms of this session, creating the
// session's seed if needed.
func (s *Server) csrfToken(ctx context.Context) (string, error) {
	seed := s.sessions.GetString(ctx, keyCSRFSeed)
	if seed == "" {
		var err error
		if seed, err = secret.NewToken(); err != nil {
			return "", err
		}
		s.sessions.Put(ctx, keyCSRFSeed, seed)
	}
	return s.csrfMAC(seed), nil
}

func (s *Server) csrfMAC(seed string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("gatehouse webapp csrf\x00"))
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the request carries this session's CSRF token
// (synchronizer token pattern; compared in constant time).
func (s *Server) checkCSRF(r *http.Request) bool {
	seed := s.sessions.GetString(r.Context(), keyCSRFSeed)
	if seed == "" {
		return false
	}
	got := r.PostFormValue(csrfField)
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfMAC(seed)))
}
