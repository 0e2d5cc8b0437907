package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters (RFC 9106 §3.1). They are written into
// every hash, so raising them later affects new hashes only; NeedsRehash tells
// when a stored hash should be replaced after a successful login.
type Params struct {
	Memory  uint32 // memory in KiB (m)
	Time    uint32 // passes over memory (t)
	Threads uint8  // degree of parallelism (p)
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // hash length in bytes
}

// DefaultParams is one of the OWASP Password Storage Cheat Sheet's argon2id
// configurations, which it rates as equally strong: m=12 MiB, t=3, p=1 (the
// others trade memory for passes, e.g. m=19 MiB, t=2), with a 128-bit salt
// and a 256-bit hash (RFC 9106 §3.1 recommends 128-bit salts). Of those it is
// the one that holds the least memory per hash for about the same time on
// one core (a few tens of milliseconds), so a server verifying one
// password per core stays small while offline guessing stays expensive.
// Read it; do not modify it: pass your own Params to HashWithParams to raise
// the cost.
var DefaultParams = Params{Memory: 12 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters accepted from a stored hash, so a corrupted or
// malicious row cannot make Verify allocate gigabytes or spin for minutes.
const (
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxMemory  = 1 << 21 // KiB: 2 GiB, RFC 9106's first recommended option
	maxTime    = 64
)

// ErrMalformedHash is wrapped by every error about an encoded hash that is
// not an argon2id PHC string Gatehouse can verify.
var ErrMalformedHash = errors.New("password: malformed hash")

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// Hash hashes password with DefaultParams. Check a new password with Validate
// first; Hash itself accepts any string.
func Hash(password string) (string, error) {
	return HashWithParams(password, DefaultParams)
}

// HashWithParams hashes password with argon2id under p and a fresh random
// salt, returning the PHC string
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>
func HashWithParams(password string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: generating salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// check rejects parameters argon2id cannot use or that Verify would refuse.
func (p Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("password: time %d outside 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("password: threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// RFC 9106 §3.1: m is at least 8*p KiB.
		return fmt.Errorf("password: memory %d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("password: salt length %d outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("password: key length %d outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Verify reports whether password matches the encoded hash, comparing in
// constant time. err is non-nil only when encoded is malformed (it then wraps
// ErrMalformedHash); a wrong password is ok == false with a nil error.
func Verify(password, encoded string) (ok bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// VerifyDummy spends the work of Verify against a DefaultParams hash and
// throws the result away. Call it when the user is unknown so that the
// response takes as long as for a known user with a wrong password, and
// timing does not reveal which usernames exist (OWASP Authentication Cheat
// Sheet, "Authentication Responses").
func VerifyDummy(password string) {
	VerifyDummyWithParams(password, DefaultParams)
}

// VerifyDummyWithParams is VerifyDummy for a server that hashes with other
// parameters than DefaultParams.
func VerifyDummyWithParams(password string, p Params) {
	if p.check() != nil {
		p = DefaultParams
	}
	salt := make([]byte, p.SaltLen)
	want := make([]byte, p.KeyLen)
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	subtle.ConstantTimeCompare(got, want)
}

// NeedsRehash reports whether encoded was made with parameters other than p
// (or cannot be read at all), so that after a successful Verify the caller
// should store Hash of the password instead.
func NeedsRehash(encoded string, p Params) bool {
	got, _, _, err := decode(encoded)
	return err != nil || got != p
}

// ParseParams returns the parameters recorded in an encoded hash.
func ParseParams(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func decode(encoded string) (p Params, salt, key []byte, err error) {
	malformed := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return malformed("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[1] != "argon2id" {
		return malformed("algorithm %q, want argon2id", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return malformed("version %q, want v=%d", parts[2], argon2.Version)
	}
	var m, t, threads uint64
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return malformed("parameters %q, want m=…,t=…,p=…", parts[3])
	}
	for i, f := range []struct {
		name string
		dst  *uint64
		bits int
	}{{"m", &m, 32}, {"t", &t, 32}, {"p", &threads, 8}} {
		v, ok := strings.CutPrefix(fields[i], f.name+"=")
		if !ok {
			return malformed("parameters %q, want m=…,t=…,p=…", parts[3])
		}
		n, err := strconv.ParseUint(v, 10, f.bits)
		if err != nil || (len(v) > 1 && v[0] == '0') {
			return malformed("parameter %s=%q is not a number in range", f.name, v)
		}
		*f.dst = n
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return malformed("salt is not unpadded base64")
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return malformed("hash is not unpadded base64")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.check(); err != nil {
		return malformed("%v", strings.TrimPrefix(err.Error(), "password: "))
	}
	return p, salt, key, nil
}
