package dpop_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// opaque hides a key's type, as a key in a hardware module would.
type opaque struct{ s crypto.Signer }

func (o opaque) Public() crypto.PublicKey { return o.s.Public() }
func (o opaque) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

func TestNewKey(t *testing.T) {
	keys(t)
	gen, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if gen.Algorithm() != jose.ES256 {
		t.Errorf("GenerateKey: %s, want ES256", gen.Algorithm())
	}
	for _, tt := range []struct {
		name   string
		signer crypto.Signer
		alg    jose.SignatureAlgorithm // "": refused
	}{
		{"P-256", ecKey, jose.ES256},
		{"Ed25519", edKey, jose.EdDSA},
		{"RSA", rsaKey, jose.PS256},
		{"opaque P-256", opaque{ecKey}, jose.ES256},
		{"opaque Ed25519", opaque{edKey}, jose.EdDSA},
		{"opaque RSA", opaque{rsaKey}, jose.PS256},
		{"P-384", ecP384Key, ""},
		{"RSA 1024", rsaSmallKey, ""},
		{"nil", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := dpop.NewKey(tt.signer)
			if tt.alg == "" {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := dpop.Thumbprint(jose.JSONWebKey{Key: tt.signer.Public()})
			pub := k.Public()
			if k.Algorithm() != tt.alg || k.JKT() != want || !pub.IsPublic() {
				t.Errorf("alg %s, JKT %s, public %v; want %s, %s", k.Algorithm(), k.JKT(), pub.IsPublic(), tt.alg, want)
			}
			// Its proofs are accepted, bound to its thumbprint.
			proof, err := k.Proof("POST", "https://as.example/token", "", "", now)
			if err != nil {
				t.Fatal(err)
			}
			p, err := newChecker().Check(context.Background(), proof, tokenRequest)
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != k.JKT() {
				t.Errorf("proof's JKT %s, key's %s", p.JKT, k.JKT())
			}
		})
	}
}

// TestKeyPSSSalt: PS256 signatures use a salt as long as the hash (RFC 7518
// §3.5), opaque keys included, so that strict verifiers accept them.
func TestKeyPSSSalt(t *testing.T) {
	keys(t)
	for name, s := range map[string]crypto.Signer{"native": rsaKey, "opaque": opaque{rsaKey}} {
		k, err := dpop.NewKey(s)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := k.Proof("GET", "https://api.example/", "", "", now)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(proof, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// decode returns a proof's header and claims, unverified.
func decode(t testing.TB, proof string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q", proof)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestKeyProof(t *testing.T) {
	k, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := k.Proof("GET", "https://user@api.example:8443/notes/1?q=x#frag", "tok", "n-1", now)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decode(t, proof)
	if h["typ"] != "dpop+jwt" || h["alg"] != "ES256" || h["jwk"] == nil {
		t.Errorf("header %v", h)
	}
	if jwk := h["jwk"].(map[string]any); jwk["d"] != nil {
		t.Errorf("the jwk header has the private key: %v", jwk)
	}
	want := map[string]any{"htm": "GET", "htu": "https://api.example:8443/notes/1", "iat": float64(now.Unix()),
		"ath": dpop.TokenHash("tok"), "nonce": "n-1"}
	for name, v := range want {
		if c[name] != v {
			t.Errorf("%s = %v, want %v", name, c[name], v)
		}
	}
	jti, _ := c["jti"].(string)
	if len(jti) < 22 {
		t.Errorf("jti %q: want 128 random bits", jti)
	}

	// Without a token or a nonce: no ath, no nonce; a new jti each time.
	proof2, err := k.Proof("POST", "https://as.example/token", "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	_, c2 := decode(t, proof2)
	if _, ok := c2["ath"]; ok {
		t.Error("ath without a token")
	}
	if _, ok := c2["nonce"]; ok {
		t.Error("nonce without a nonce")
	}
	if c2["jti"] == jti {
		t.Error("two proofs share a jti")
	}

	for _, tt := range []struct{ method, url string }{{"", "https://as.example/"}, {"GET", "/token"}, {"GET", "as.example/token"}, {"GET", "https://as.example/%zz"}} {
		if p, err := k.Proof(tt.method, tt.url, "", "", now); err == nil {
			t.Errorf("Proof(%q, %q) = %q, want an error", tt.method, tt.url, p)
		}
	}
}

func TestKeyConcurrentProofs(t *testing.T) {
	k, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			proof, err := k.Proof("POST", "https://as.example/token", "", "", now)
			if err == nil {
				_, err = c.Check(context.Background(), proof, tokenRequest)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestKeyJSON(t *testing.T) {
	keys(t)
	for name, s := range map[string]crypto.Signer{"EC": ecKey, "Ed25519": edKey, "RSA": rsaKey} {
		t.Run(name, func(t *testing.T) {
			k, err := dpop.NewKey(s)
			if err != nil {
				t.Fatal(err)
			}
			// Kept in a session, as a field.
			b, err := json.Marshal(struct{ Key *dpop.Key }{k})
			if err != nil {
				t.Fatal(err)
			}
			var back struct{ Key *dpop.Key }
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Key.JKT() != k.JKT() || back.Key.Algorithm() != k.Algorithm() {
				t.Errorf("round trip: %s %s, want %s %s", back.Key.JKT(), back.Key.Algorithm(), k.JKT(), k.Algorithm())
			}
			proof, err := back.Key.Proof("POST", "https://as.example/token", "", "", now)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := newChecker().Check(context.Background(), proof, tokenRequest); err != nil || p.JKT != k.JKT() {
				t.Errorf("proof of the parsed key: %v, %v", p.JKT, err)
			}
		})
	}

	opq, err := dpop.NewKey(opaque{ecKey})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := opq.MarshalJSON(); err == nil {
		t.Errorf("opaque key marshalled: %s", b)
	}

	for name, in := range map[string]string{
		"public":    string(jwkJSON(t, &ecKey.PublicKey)),
		"symmetric": `{"kty":"oct","k":"` + b64([]byte(strings.Repeat("k", 32))) + `"}`,
		"P-384":     string(jwkJSON(t, ecP384Key)),
		"other alg": strings.Replace(string(jwkJSON(t, ecKey)), `{`, `{"alg":"ES384",`, 1),
		"garbage":   `{"kty":`,
		"empty":     ``,
	} {
		if k, err := dpop.ParseKey([]byte(in)); err == nil {
			t.Errorf("ParseKey(%s): %v, want an error", name, k.JKT())
		}
	}
}
