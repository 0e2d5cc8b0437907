package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// MinKeyLen is the least number of bytes a server secret may have.
const MinKeyLen = 32

// hkdfSalt domain-separates Gatehouse's subkeys from any other use of the same
// input keying material (RFC 5869 §3.1: a salt adds strength even when fixed).
const hkdfSalt = "gatehouse server secret v1"

// purposeEncryption names the subkey Seal and Open use.
const purposeEncryption = "encryption"

// redacted is what a Key shows wherever it is printed or logged.
const redacted = "secret.Key(REDACTED)"

// ErrDecrypt is returned by Open when a ciphertext was altered, was sealed
// under another key or with other additional data, or is too short.
var ErrDecrypt = errors.New("secret: message authentication failed")

// Key is the server secret. Create it with New, Parse or LoadOrCreate; the
// zero Key is unusable and every method on it fails safely.
//
// A Key is safe for concurrent use. Key implements fmt.Formatter,
// fmt.GoStringer and slog.LogValuer to redact itself. fmt cannot call those
// methods on a Key held in an unexported struct field, so the bytes also sit
// two pointers deep: fmt prints nested pointers as addresses, and even its
// bad-verb path (%s on a pointer) dereferences only one.
type Key struct {
	h *hidden
}

type hidden struct {
	m *material
}

type material struct {
	raw  []byte
	aead cipher.AEAD // AES-256-GCM with random nonces, keyed by Derive(purposeEncryption)
}

// New returns a Key of MinKeyLen fresh random bytes.
func New() (*Key, error) {
	raw := make([]byte, MinKeyLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("secret: generating key: %w", err)
	}
	return fromBytes(raw)
}

// Parse decodes a Key from s, as found in GATEHOUSE_SECRET or a secret file.
// Surrounding whitespace is ignored. s may be hex or base64 (standard or URL
// alphabet, padded or not) and must decode to at least MinKeyLen bytes, such
// as the output of `openssl rand -base64 32` or `openssl rand -hex 32`.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret: empty; want at least 32 random bytes, hex or base64 encoded (e.g. `openssl rand -base64 32`)")
	}
	raw, err := decode(s)
	if err != nil {
		return nil, err
	}
	if len(raw) < MinKeyLen {
		return nil, fmt.Errorf("secret: too short: decodes to %d bytes, need at least %d (e.g. `openssl rand -base64 32`)", len(raw), MinKeyLen)
	}
	return fromBytes(raw)
}

// decode tries hex first: a string of only hex digits of even length is
// treated as hex, since base64 of random bytes is practically never all hex
// digits.
func decode(s string) ([]byte, error) {
	if len(s)%2 == 0 && isHex(s) {
		return hex.DecodeString(s)
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.URLEncoding,
		base64.RawStdEncoding, base64.RawURLEncoding,
	} {
		if raw, err := enc.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	return nil, errors.New("secret: not hex or base64; want at least 32 random bytes, hex or base64 encoded (e.g. `openssl rand -base64 32`)")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func fromBytes(raw []byte) (*Key, error) {
	m := &material{raw: raw}
	k := &Key{h: &hidden{m: m}}
	block, err := aes.NewCipher(k.Derive(purposeEncryption, 32))
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	m.aead = aead
	return k, nil
}

// keys returns the Key's bytes and cipher, or nil for a zero Key.
func (k *Key) keys() *material {
	if k == nil || k.h == nil {
		return nil
	}
	return k.h.m
}

func (k *Key) usable() bool {
	m := k.keys()
	return m != nil && m.aead != nil
}

// Encode returns the Key in the form Parse reads back: unpadded base64url.
// It is the one way to get the secret out, meant for writing the secret file.
func (k *Key) Encode() string {
	if !k.usable() {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(k.keys().raw)
}

// Derive returns an n-byte subkey for the named purpose (HKDF-SHA256, RFC
// 5869, with the purpose as info). Distinct purposes give independent keys,
// so one use of the secret can never be turned against another. Derive returns
// nil for a zero Key, an empty purpose, or n outside 1..255*32.
func (k *Key) Derive(purpose string, n int) []byte {
	m := k.keys()
	if m == nil || purpose == "" || n < 1 || n > 255*sha256.Size {
		return nil
	}
	sub, err := hkdf.Key(sha256.New, m.raw, []byte(hkdfSalt), "gatehouse/"+purpose, n)
	if err != nil {
		return nil
	}
	return sub
}

// Seal encrypts and authenticates plaintext with AES-256-GCM under the
// "encryption" subkey, binding additionalData (which is authenticated, not
// encrypted; pass what the value belongs to, e.g. a row ID, so a sealed value
// cannot be moved to another row). The result is a random 96-bit nonce, the
// ciphertext and the 128-bit tag. With random nonces a Key must not seal more
// than 2^32 messages; at-rest encryption of keys and secrets is far below that.
func (k *Key) Seal(plaintext, additionalData []byte) ([]byte, error) {
	if !k.usable() {
		return nil, errors.New("secret: Seal with a zero Key")
	}
	return k.keys().aead.Seal(nil, nil, plaintext, additionalData), nil
}

// Open reverses Seal. It fails with ErrDecrypt when the ciphertext was
// altered, sealed under another Key or with different additionalData.
func (k *Key) Open(ciphertext, additionalData []byte) ([]byte, error) {
	if !k.usable() {
		return nil, errors.New("secret: Open with a zero Key")
	}
	aead := k.keys().aead
	if len(ciphertext) < aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, nil, ciphertext, additionalData)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// String redacts the Key.
func (Key) String() string { return redacted }

// GoString redacts the Key for %#v.
func (Key) GoString() string { return redacted }

// Format redacts the Key for every fmt verb (%v, %+v, %#v, %s, %x, %d, ...).
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the Key in slog output.
func (Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalText refuses to serialise the Key, so it cannot leak through JSON,
// YAML or any other encoder by accident. Use Encode deliberately instead.
func (Key) MarshalText() ([]byte, error) {
	return nil, errors.New("secret: refusing to marshal a Key; use Encode")
}

var (
	_ fmt.Formatter  = Key{}
	_ fmt.GoStringer = Key{}
	_ slog.LogValuer = Key{}
)
