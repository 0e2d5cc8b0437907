package authz

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Time-based one-time passwords (RFC 6238) and recovery codes, the second
// factor a person enrols with an authenticator app.
//
// The shared secret is kept sealed with the server secret, bound to its
// user. A code is accepted for the current 30-second step or the one
// before or after it (clock drift, RFC 6238 §5.2), and each step once: the
// store moves the user's last accepted step forward atomically, so a code
// seen by someone else, or sent twice at once, signs in once.

const (
	totpPeriod = 30 * time.Second
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps accepted either side of the current one

	recoveryCodeCount = 10
	// recoveryCodeChars random characters, from the unambiguous base32
	// alphabet: 60 bits each.
	recoveryCodeChars = 12
)

// totpFactor enrols and checks TOTP authenticators and recovery codes.
type totpFactor struct {
	issuer  string // the name authenticator apps show
	key     *secret.Key
	codeKey []byte // keys the recovery-code hashes
	store   totpStore
}

// totpStore is the part of the store the TOTP factor uses.
type totpStore interface {
	GetTOTP(ctx context.Context, userID string) (storage.TOTP, error)
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error)
}

func newTOTPFactor(issuer string, key *secret.Key, store totpStore) *totpFactor {
	return &totpFactor{issuer: issuer, key: key, codeKey: key.Derive("authz/recovery-codes", 32), store: store}
}

// totpEnrolment is a new authenticator waiting for its first code.
type totpEnrolment struct {
	Secret string        // base32, for typing into an app
	URL    string        // otpauth:// URI (Key Uri Format)
	QR     template.HTML // the URI as an inline SVG QR code
	Sealed string        // the secret sealed for the confirming form
}

// enrol makes a new secret for the user.
func (f *totpFactor) enrol(userID, username string) (totpEnrolment, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: f.issuer, AccountName: username, Period: uint(totpPeriod / time.Second),
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: 20,
	})
	if err != nil {
		return totpEnrolment{}, fmt.Errorf("generating a TOTP secret: %w", err)
	}
	sealed, err := f.seal(userID, k.Secret())
	if err != nil {
		return totpEnrolment{}, err
	}
	svg, err := qrSVG(k.URL())
	if err != nil {
		return totpEnrolment{}, err
	}
	return totpEnrolment{Secret: k.Secret(), URL: k.URL(), QR: svg, Sealed: base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

// totpPurpose binds a sealed secret to its use and its user.
func totpPurpose(userID string) []byte { return []byte("gatehouse authz totp secret\x00" + userID) }

func (f *totpFactor) seal(userID, b32 string) ([]byte, error) {
	sealed, err := f.key.Seal([]byte(b32), totpPurpose(userID))
	if err != nil {
		return nil, fmt.Errorf("sealing a TOTP secret: %w", err)
	}
	return sealed, nil
}

func (f *totpFactor) open(userID string, sealed []byte) (string, error) {
	b, err := f.key.Open(sealed, totpPurpose(userID))
	if err != nil {
		return "", fmt.Errorf("opening a TOTP secret: %w", err)
	}
	return string(b), nil
}

// openEnrolment opens the secret an enrolment form carries back.
func (f *totpFactor) openEnrolment(userID, sealed string) (stored []byte, b32 string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, "", fmt.Errorf("enrolment secret: %w", err)
	}
	b32, err = f.open(userID, raw)
	return raw, b32, err
}

// stepOf returns the time step a code of the secret matches at now, or
// false. It compares in constant time against every step in the window.
func stepOf(b32, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(code, " ", "") // "123 456", as apps show it
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	cur := now.Unix() / int64(totpPeriod/time.Second)
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := cur + d
		want, err := totp.GenerateCodeCustom(b32, time.Unix(s*int64(totpPeriod/time.Second), 0), totp.ValidateOpts{
			Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = s, true
		}
	}
	return found, ok
}

// errNoTOTP: the person has no authenticator app enrolled.
var errNoTOTP = errors.New("no TOTP authenticator")

// checkCode reports whether code is the user's current TOTP code, not
// used before. Only one of concurrent checks of one code succeeds.
func (f *totpFactor) checkCode(ctx context.Context, userID, code string, now time.Time) (bool, error) {
	t, err := f.store.GetTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, errNoTOTP
	}
	if err != nil {
		return false, fmt.Errorf("loading the TOTP authenticator: %w", err)
	}
	b32, err := f.open(userID, t.Secret)
	if err != nil {
		return false, err
	}
	step, ok := stepOf(b32, code, now)
	if !ok || step <= t.LastStep {
		return false, nil
	}
	used, err := f.store.UseTOTPStep(ctx, userID, step)
	if err != nil {
		return false, fmt.Errorf("recording a TOTP code: %w", err)
	}
	return used, nil
}

// recoveryEncoding is base32 without the letters read as digits.
var recoveryEncoding = base32.NewEncoding("abcdefghjkmnpqrstuvwxyz023456789").WithPadding(base32.NoPadding)

// newRecoveryCodes returns recoveryCodeCount fresh codes, formatted for
// reading (xxxx-xxxx-xxxx), and their hashes for the store.
func (f *totpFactor) newRecoveryCodes(userID string) (codes, hashes []string, err error) {
	for range recoveryCodeCount {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("generating recovery codes: %w", err)
		}
		raw := recoveryEncoding.EncodeToString(b)[:recoveryCodeChars]
		codes = append(codes, raw[:4]+"-"+raw[4:8]+"-"+raw[8:])
		hashes = append(hashes, f.recoveryHash(userID, raw))
	}
	return codes, hashes, nil
}

// recoveryHash keys the hash with the server secret and binds it to the
// user, so the stored hashes cannot be searched offline without the
// secret.
func (f *totpFactor) recoveryHash(userID, normalized string) string {
	m := hmac.New(sha256.New, f.codeKey)
	m.Write([]byte(userID + "\x00" + normalized))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// normalizeRecoveryCode drops what people add or change when typing a
// code: spaces, dashes and case.
func normalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// useRecoveryCode spends one of the user's recovery codes.
func (f *totpFactor) useRecoveryCode(ctx context.Context, userID, code string, now time.Time) (bool, error) {
	n := normalizeRecoveryCode(code)
	if len(n) != recoveryCodeChars {
		return false, nil
	}
	ok, err := f.store.UseRecoveryCode(ctx, userID, f.recoveryHash(userID, n), now)
	if err != nil {
		return false, fmt.Errorf("spending a recovery code: %w", err)
	}
	return ok, nil
}

// totpIssuerName is the name authenticator apps show beside the account:
// the service and its host.
func totpIssuerName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return "Gatehouse (" + u.Hostname() + ")"
	}
	return "Gatehouse"
}

// qrSVG draws s as a QR code in SVG, to be inlined in a page (the pages'
// Content-Security-Policy allows no data: images).
func qrSVG(s string) (template.HTML, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("drawing the QR code: %w", err)
	}
	size := code.Bounds().Dx()
	const quiet = 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="220" height="220" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`, size+2*quiet, size+2*quiet)
	for y := range size {
		for x := range size {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil // built from numbers only
}
