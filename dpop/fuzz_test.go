package dpop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzCheck checks fuzzed proofs against fuzzed requests: never a panic;
// a refusal is an *Error whose challenge is one line, or another error only
// when the request itself is unusable; and whatever is accepted satisfies
// every check of RFC 9449 §4.3.
func FuzzCheck(f *testing.F) {
	at := time.Unix(1767225600, 0)
	nonces, err := NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, func() time.Time { return at })
	if err != nil {
		f.Fatal(err)
	}
	key, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct{ method, url, token, nonce string }{
		{"POST", "https://as.example/token", "", ""},
		{"GET", "https://api.example/notes?q=1", "tok", ""},
		{"PUT", "http://api.example:8080/a/../b/%7e", "tok", nonces.Current()},
		{"POST", "https://as.example/token", "", nonces.Current()},
	} {
		proof, err := key.Proof(s.method, s.url, s.token, s.nonce, at)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(proof, s.method, s.url, s.token, s.nonce != "")
		f.Add(proof, s.method, strings.ToUpper(s.url), s.token, false)
		f.Add(proof[:len(proof)-3], s.method, s.url, s.token, false)
	}
	f.Add("e30.e30.", "GET", "https://a/", "", false)
	f.Add("..", "GET", "/", "", true)

	f.Fuzz(func(t *testing.T, proof, method, url, token string, useNonce bool) {
		c := &Checker{Replays: NewMemoryReplays(), Now: func() time.Time { return at }}
		if useNonce {
			c.Nonces = nonces
		}
		r := Request{Method: method, URL: url, AccessToken: token}
		p, err := c.Check(context.Background(), proof, r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				if _, uerr := normalizeURL(url); uerr == nil && method != "" {
					t.Fatalf("an error that is not an *Error for a usable request: %v", err)
				}
				return
			}
			if e.Code != InvalidProof && e.Code != UseNonce {
				t.Fatalf("error code %q", e.Code)
			}
			if ch := e.WWWAuthenticate(Algorithms()); strings.ContainsAny(ch, "\r\n") || strings.Count(ch, `"`)%2 != 0 {
				t.Fatalf("challenge %q", ch)
			}
			return
		}

		// Accepted: read the proof again, without go-jose's help where it
		// can be done by hand.
		parts := strings.Split(proof, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %q: not three parts", proof)
		}
		var header struct {
			Typ string          `json:"typ"`
			Alg string          `json:"alg"`
			JWK json.RawMessage `json:"jwk"`
		}
		var cl struct {
			JTI   string  `json:"jti"`
			HTM   string  `json:"htm"`
			HTU   string  `json:"htu"`
			IAT   float64 `json:"iat"`
			ATH   string  `json:"ath"`
			Nonce string  `json:"nonce"`
		}
		for i, dst := range []any{&header, &cl} {
			b, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, dst); err != nil {
				t.Fatal(err)
			}
		}
		if header.Typ != "dpop+jwt" || !slices.Contains(Algorithms(), jose.SignatureAlgorithm(header.Alg)) {
			t.Fatalf("accepted a proof with typ %q, alg %q", header.Typ, header.Alg)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(header.JWK); err != nil || !jwk.IsPublic() {
			t.Fatalf("accepted a proof with jwk %s", header.JWK)
		}
		if jkt, _ := Thumbprint(jwk); jkt != p.JKT {
			t.Fatalf("JKT %s, jwk's %s", p.JKT, jkt)
		}
		if cl.JTI == "" || cl.JTI != p.ID || len(cl.JTI) > maxJTILen {
			t.Fatalf("accepted jti %q", cl.JTI)
		}
		if cl.HTM != method {
			t.Fatalf("accepted htm %q for %q", cl.HTM, method)
		}
		got, err1 := normalizeURL(cl.HTU)
		want, err2 := normalizeURL(url)
		if err1 != nil || err2 != nil || got != want {
			t.Fatalf("accepted htu %q for %q", cl.HTU, url)
		}
		if d := at.Sub(p.IssuedAt); d > DefaultWindow || d < -DefaultWindow {
			t.Fatalf("accepted iat %v at %v", p.IssuedAt, at)
		}
		if token != "" && cl.ATH != TokenHash(token) {
			t.Fatalf("accepted ath %q for token %q", cl.ATH, token)
		}
		if useNonce && !nonces.Valid(cl.Nonce) {
			t.Fatalf("accepted nonce %q", cl.Nonce)
		}
		if _, err := c.Check(context.Background(), proof, r); err == nil {
			t.Fatal("accepted twice")
		}
	})
}
