package password

import (
	"errors"
	"unicode/utf8"
)

// Limits of the minimum password policy.
const (
	MinChars = 8    // characters (Unicode code points)
	MaxBytes = 1024 // bounds the work one login attempt can cause
)

// Policy errors, returned as they are so callers can show them to people.
var (
	ErrTooShort    = errors.New("password must be at least 8 characters")
	ErrTooLong     = errors.New("password must be at most 1024 bytes")
	ErrInvalidUTF8 = errors.New("password must be valid UTF-8 text")
)

// Validate applies the minimum policy to a new password: valid UTF-8, at
// least MinChars characters counted as Unicode code points, and at most
// MaxBytes bytes.
//
// NIST SP 800-63B-4 §3.1.1.2 counts characters this way, sets 8 as the floor
// for any password (15 where a password is the only factor, so deployments
// without a second factor may want more), and says not to impose composition
// rules, which Validate therefore does not.
func Validate(password string) error {
	switch {
	case len(password) > MaxBytes:
		return ErrTooLong
	case !utf8.ValidString(password):
		return ErrInvalidUTF8
	case utf8.RuneCountInString(password) < MinChars:
		return ErrTooShort
	}
	return nil
}
