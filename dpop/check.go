package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Header names (RFC 9449 §4.1 and §8.1).
const (
	HeaderProof = "DPoP"       // the proof, on requests
	HeaderNonce = "DPoP-Nonce" // a server nonce, on responses
)

// proofType is the "typ" header every proof carries (RFC 9449 §4.2).
const proofType = "dpop+jwt"

// DefaultWindow is how far a proof's iat may be from the server's clock when
// Checker.Window is zero.
const DefaultWindow = 60 * time.Second

// maxProofLen bounds the proof parsed: a proof with a 4096-bit RSA key (the
// largest go-jose accepts) takes under 2 KB.
const maxProofLen = 8 << 10

// maxJTILen bounds the jti claim: a client needs 128 random bits (22
// characters of base64url); a UUID takes 36.
const maxJTILen = 256

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// Algorithms returns the JWS algorithms accepted in proofs: FAPI 2.0's
// ES256, EdDSA and PS256, and RS256. All are asymmetric: "none" and the HMAC
// algorithms are refused (RFC 9449 §4.3). The slice is the caller's.
func Algorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}
}

// Request is what a proof is checked against: the HTTP request it came with.
type Request struct {
	// Method is the request's method (the "htm" claim must equal it).
	Method string
	// URL is the absolute URL the request was sent to, as the client saw
	// it: behind a proxy, the public scheme and host, not the listener's.
	// Its query and fragment are ignored.
	URL string
	// AccessToken is the access token that came with the request, for
	// requests to a protected resource; the proof must then carry its hash
	// ("ath"). Empty at the token endpoint.
	AccessToken string
}

// Proof is what a valid proof says.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of Key, base64url: the value
	// of an access token's "cnf"."jkt" claim when it is bound to Key.
	JKT string
	// Key is the public key the proof is signed with (its "jwk" header).
	Key jose.JSONWebKey
	// ID is the proof's "jti".
	ID string
	// IssuedAt is the proof's "iat".
	IssuedAt time.Time
}

// Checker checks DPoP proofs as RFC 9449 §4.3 says. Its fields are not
// modified by Check, which may be called concurrently.
type Checker struct {
	// Replays remembers the proofs already accepted, so that none is
	// accepted twice (RFC 9449 §11.1). Required. With several instances it
	// must be a store they share.
	Replays Replays
	// Nonces, when set, requires every proof to carry a current server
	// nonce (RFC 9449 §8 and §9); nil: no nonce is asked for.
	Nonces *Nonces
	// Window is how far a proof's iat may be from the clock, either way
	// (default DefaultWindow). A proof is remembered for as long.
	Window time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// claims are a proof's payload (RFC 9449 §4.2).
type claims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// Check checks proof, the value of the request's DPoP header, against the
// request r, and remembers it so that it cannot be used again. A proof that
// is not acceptable gives an *Error: invalid_dpop_proof, or use_dpop_nonce
// when c.Nonces is set and the proof lacks a current nonce (answer it with
// a DPoP-Nonce header holding c.Nonces.Current()). Any other error means the
// proof could not be checked: the Checker or r is misconfigured, or the
// replay store failed; answer it with a 5xx.
//
// Check does not look at the access token itself: a resource server must
// also make sure that the token's "cnf"."jkt" equals the returned JKT
// (RFC 9449 §7.1).
func (c *Checker) Check(ctx context.Context, proof string, r Request) (Proof, error) {
	if c.Replays == nil {
		return Proof{}, errors.New("dpop: Checker has no Replays")
	}
	window := c.Window
	if window == 0 {
		window = DefaultWindow
	}
	if window < 0 {
		return Proof{}, fmt.Errorf("dpop: negative Checker.Window %v", window)
	}
	if r.Method == "" {
		return Proof{}, errors.New("dpop: Request has no Method")
	}
	wantHTU, err := normalizeURL(r.URL)
	if err != nil {
		return Proof{}, fmt.Errorf("dpop: Request.URL: %w", err)
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}

	p, cl, perr := parse(proof)
	if perr != nil {
		return Proof{}, perr
	}
	if *cl.HTM != r.Method {
		return Proof{}, invalid("htm %q does not match the request method %s", *cl.HTM, r.Method)
	}
	if got, err := normalizeURL(*cl.HTU); err != nil || got != wantHTU {
		return Proof{}, invalid("htu does not match the request URL")
	}
	if d := now.Sub(p.IssuedAt); d > window || d < -window {
		return Proof{}, invalid("iat is not within %v of the server's time", window)
	}
	if r.AccessToken != "" {
		if cl.ATH == nil {
			return Proof{}, invalid("the proof has no ath for the access token")
		}
		want := TokenHash(r.AccessToken)
		if subtle.ConstantTimeCompare([]byte(*cl.ATH), []byte(want)) != 1 {
			return Proof{}, invalid("ath does not match the access token")
		}
	}
	if c.Nonces != nil && (cl.Nonce == nil || !c.Nonces.Valid(*cl.Nonce)) {
		return Proof{}, &Error{Code: UseNonce, Description: "the proof needs the server's current nonce"}
	}

	// Last, so that a refused proof is not remembered. The proof is
	// acceptable until iat+window, and remembered as long.
	key := replayKey(p.JKT, wantHTU, p.ID)
	if err := c.Replays.UseOnce(ctx, key, p.IssuedAt.Add(window), now); err != nil {
		if errors.Is(err, ErrReplayed) {
			return Proof{}, invalid("the proof was already used")
		}
		return Proof{}, fmt.Errorf("dpop: replay store: %w", err)
	}
	return p, nil
}

// parse checks what a proof says about itself: its form, header, key,
// signature and claims' types. What depends on the request is left to
// Check.
func parse(proof string) (Proof, claims, *Error) {
	var cl claims
	if proof == "" {
		return Proof{}, cl, invalid("no DPoP proof")
	}
	if len(proof) > maxProofLen {
		return Proof{}, cl, invalid("the DPoP proof is longer than %d bytes", maxProofLen)
	}
	// Compact serialization only: ParseSignedCompact refuses the JSON ones,
	// and with them more than one signature.
	jws, err := jose.ParseSignedCompact(proof, Algorithms())
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return Proof{}, cl, invalid("alg %q is not accepted", alg.Got)
		}
		// go-jose also refuses here a jwk header with private or symmetric
		// key material (RFC 7515 §4.1.3); keyFits refuses it again below.
		return Proof{}, cl, invalid("the DPoP proof is not a signed JWT: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, cl, invalid("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != proofType {
		return Proof{}, cl, invalid("typ must be %s", proofType)
	}
	// A proof has no use for JWS extensions; "b64" in particular would sign
	// the payload unencoded (RFC 7797).
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return Proof{}, cl, invalid("the %q header is not accepted", name)
		}
	}
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if h.JSONWebKey == nil {
		return Proof{}, cl, invalid("the proof has no jwk header")
	}
	jwk := *h.JSONWebKey
	if err := keyFits(jwk, alg); err != nil {
		return Proof{}, cl, invalid("jwk: %v", err)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return Proof{}, cl, invalid("the signature does not verify with the jwk")
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return Proof{}, cl, invalid("the proof's claims are not a JSON object of the expected types")
	}
	switch {
	case cl.JTI == nil || *cl.JTI == "":
		return Proof{}, cl, invalid("the proof has no jti")
	case len(*cl.JTI) > maxJTILen:
		return Proof{}, cl, invalid("jti is longer than %d bytes", maxJTILen)
	case cl.HTM == nil:
		return Proof{}, cl, invalid("the proof has no htm")
	case cl.HTU == nil:
		return Proof{}, cl, invalid("the proof has no htu")
	case cl.IAT == nil:
		return Proof{}, cl, invalid("the proof has no iat")
	}
	iat, ok := numericDate(*cl.IAT)
	if !ok {
		return Proof{}, cl, invalid("iat is not a time")
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return Proof{}, cl, invalid("jwk: %v", err)
	}
	return Proof{JKT: jkt, Key: jwk, ID: *cl.JTI, IssuedAt: iat}, cl, nil
}

// keyFits reports why k cannot verify a proof signed with alg, or nil if it
// can: it must be a public key of the algorithm's type, and strong enough.
func keyFits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) error {
	if !k.Valid() {
		return errors.New("not a valid key")
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return fmt.Errorf("the key is for %s, the proof uses %s", k.Algorithm, alg)
	}
	switch pub := k.Key.(type) { // public keys only: private and symmetric ones fall through
	case *ecdsa.PublicKey:
		if alg == jose.ES256 && pub.Curve == elliptic.P256() {
			return nil
		}
	case ed25519.PublicKey:
		if alg == jose.EdDSA {
			return nil
		}
	case *rsa.PublicKey:
		if alg != jose.RS256 && alg != jose.PS256 {
			break
		}
		if pub.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits, less than %d", pub.N.BitLen(), minRSABits)
		}
		return nil
	}
	return fmt.Errorf("the key does not fit alg %s", alg)
}

// numericDate converts a JWT NumericDate (RFC 7519 §2), which may have a
// fraction, to a time; false for values no clock will show (negative, NaN,
// past year 5000).
func numericDate(f float64) (time.Time, bool) {
	if math.IsNaN(f) || f < 0 || f > 95617584000 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// TokenHash is the "ath" of a proof sent with accessToken: the base64url
// SHA-256 of its ASCII bytes (RFC 9449 §4.2).
func TokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint is k's RFC 7638 JWK thumbprint with SHA-256, base64url without
// padding: what an access token bound to k carries as "cnf"."jkt" (RFC 9449
// §6). A private key's thumbprint is its public key's.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	if !k.Valid() {
		return "", errors.New("dpop: invalid key")
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// replayKey names a proof in the replay store: its jti in the context of its
// key and target URI (RFC 9449 §11.1), hashed to a fixed length.
func replayKey(jkt, htu, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\n" + htu + "\n" + jti))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ProofFrom returns the DPoP proof of a request with headers h: "" and nil
// when there is none, and an invalid_dpop_proof error when there are
// several (RFC 9449 §4.3).
func ProofFrom(h http.Header) (string, *Error) {
	v := h.Values(HeaderProof)
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		if v[0] == "" {
			return "", invalid("the DPoP header is empty")
		}
		return v[0], nil
	}
	return "", invalid("more than one DPoP header")
}

// Error codes (RFC 9449 §12.2).
const (
	// InvalidProof: the proof is not acceptable.
	InvalidProof = "invalid_dpop_proof"
	// UseNonce: the proof must carry the nonce the server sends in its
	// DPoP-Nonce header.
	UseNonce = "use_dpop_nonce"
)

// Error is a refused proof. At the token endpoint it is answered with 400
// and a JSON body {"error": Code, "error_description": Description} (RFC
// 9449 §5); at a resource, with 401 and a WWW-Authenticate header
// ([Error.WWWAuthenticate], RFC 9449 §7.1). Either way, a UseNonce error
// comes with a DPoP-Nonce header.
type Error struct {
	Code        string // InvalidProof or UseNonce
	Description string
}

func invalid(format string, args ...any) *Error {
	return &Error{Code: InvalidProof, Description: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return "dpop: " + e.Code + ": " + e.Description
}

// WWWAuthenticate is the value of a WWW-Authenticate header challenging a
// request to a resource for e (RFC 9449 §7.1), listing algs as the
// algorithms accepted (usually Algorithms(); none: no algs parameter):
//
//	DPoP error="invalid_dpop_proof", error_description="…", algs="ES256 EdDSA PS256 RS256"
//
// A nil e gives the challenge to a request that sent no DPoP credentials:
// algs alone. Characters that RFC 6749 §5.2 does not allow in an error or
// description (quotes, backslashes, controls, non-ASCII) are replaced, so
// the value is one line and its quoted strings cannot be escaped.
func (e *Error) WWWAuthenticate(algs []jose.SignatureAlgorithm) string {
	var params []string
	if e != nil {
		params = append(params, `error="`+clean(e.Code)+`"`)
		if e.Description != "" {
			params = append(params, `error_description="`+clean(e.Description)+`"`)
		}
	}
	if len(algs) > 0 {
		names := make([]string, len(algs))
		for i, a := range algs {
			names[i] = clean(string(a))
		}
		params = append(params, `algs="`+strings.Join(names, " ")+`"`)
	}
	if len(params) == 0 {
		return "DPoP"
	}
	return "DPoP " + strings.Join(params, ", ")
}

// clean keeps the characters RFC 6749 §5.2 allows in error and
// error_description (%x20-21 / %x23-5B / %x5D-7E) and replaces the others
// with '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
