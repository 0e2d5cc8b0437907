package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// MinNonceSecret is the shortest secret NewNonces accepts, in bytes.
const MinNonceSecret = 32

// Nonces makes and checks server nonces (RFC 9449 §8 and §9) without
// storing them: a nonce is the HMAC-SHA256 of the current time step under a
// secret, so every instance holding the same secret makes and accepts the
// same nonces. Time is cut in steps of the lifetime; a nonce is accepted
// during its step and the next, so for between one and two lifetimes after
// it was handed out. A Nonces is safe for concurrent use.
type Nonces struct {
	secret   []byte
	lifetime time.Duration
	now      func() time.Time
}

// NewNonces returns Nonces keyed by secret (at least MinNonceSecret random
// bytes, shared by the instances, kept apart from other keys), whose steps
// last lifetime (at least a second), reading the time with now (nil:
// time.Now).
func NewNonces(secret []byte, lifetime time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, fmt.Errorf("dpop: nonce secret of %d bytes, want at least %d", len(secret), MinNonceSecret)
	}
	if lifetime < time.Second {
		return nil, errors.New("dpop: nonce lifetime under a second")
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{secret: append([]byte(nil), secret...), lifetime: lifetime, now: now}, nil
}

// Current returns the nonce to send now, in a DPoP-Nonce header.
func (n *Nonces) Current() string {
	return base64.RawURLEncoding.EncodeToString(n.at(n.step()))
}

// Valid reports whether s is the nonce of the current step or of the one
// before. The comparison takes the same time whatever s is.
func (n *Nonces) Valid(s string) bool {
	got, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	step := n.step()
	cur := hmac.Equal(got, n.at(step))
	prev := hmac.Equal(got, n.at(step-1))
	return cur || prev
}

// step is the number of the current time step.
func (n *Nonces) step() int64 {
	ns := n.now().UnixNano()
	s := ns / int64(n.lifetime)
	if ns < 0 && ns%int64(n.lifetime) != 0 {
		s-- // floor, before 1970
	}
	return s
}

// at is the MAC of step.
func (n *Nonces) at(step int64) []byte {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("dpop-nonce\x00"))
	_ = binary.Write(m, binary.BigEndian, step)
	return m.Sum(nil)
}
