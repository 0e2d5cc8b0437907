package tokencli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/tokencli"
)

// TestGetChecksTheIDToken: against an authorization server whose ID
// tokens a test chooses, Get takes only an ID token signed with the
// issuer's key, for the client, carrying the nonce it sent; and its token
// request carries the verifier of the challenge it sent.
func TestGetChecksTheIDToken(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    *ecdsa.PrivateKey // signs the ID token; nil: none is sent
		nonce  func(sent string) string
		aud    string
		errMsg string
	}{
		{"a good ID token", key, func(s string) string { return s }, "gatehouse-cli", ""},
		{"no ID token although openid was asked for", nil, nil, "", "has no ID token"},
		{"another nonce", key, func(string) string { return "another-nonce" }, "gatehouse-cli", "nonce is not the one this sign-in sent"},
		{"another audience", key, func(s string) string { return s }, "someone-else", "the ID token does not verify"},
		{"another key", other, func(s string) string { return s }, "gatehouse-cli", "the ID token does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu                            sync.Mutex // the browser, the server and the test share these
				challenge, nonce, verifierErr string
			)
			srv := httptest.NewTLSServer(nil)
			defer srv.Close()
			mux := http.NewServeMux()
			mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{
					"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize", "token_endpoint": srv.URL + "/token",
					"jwks_uri": srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"},
				})
			})
			mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
			})
			mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
				if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge || r.PostFormValue("client_id") != "gatehouse-cli" {
					verifierErr = "the token request's verifier or client_id is wrong: " + r.PostForm.Encode()
					w.WriteHeader(http.StatusBadRequest)
					writeJSON(w, map[string]string{"error": "invalid_grant"})
					return
				}
				resp := map[string]any{"access_token": "the-access-token", "token_type": "Bearer", "expires_in": 300, "scope": "openid"}
				if tt.key != nil {
					resp["id_token"] = idToken(t, tt.key, jwt.Claims{
						Issuer: srv.URL, Subject: "u1", Audience: jwt.Audience{tt.aud},
						Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now()),
					}, tt.nonce(nonce))
				}
				writeJSON(w, resp)
			})
			srv.Config.Handler = mux

			// The browser goes straight back with a code.
			browse := func(_ context.Context, raw string) error {
				u, err := url.Parse(raw)
				if err != nil {
					return err
				}
				q := u.Query()
				mu.Lock()
				challenge, nonce = q.Get("code_challenge"), q.Get("nonce")
				mu.Unlock()
				go func() {
					back := q.Get("redirect_uri") + "?" + url.Values{"state": {q.Get("state")}, "code": {"the-code"}}.Encode()
					if res, err := http.Get(back); err == nil {
						res.Body.Close()
					}
				}()
				return nil
			}
			tok, err := tokencli.Get(t.Context(), tokencli.Options{
				Issuer: srv.URL, ClientID: "gatehouse-cli", Scopes: []string{"openid"},
				HTTPClient: srv.Client(), OpenBrowser: browse, Timeout: 20 * time.Second,
			})
			mu.Lock()
			defer mu.Unlock()
			if verifierErr != "" {
				t.Fatal(verifierErr)
			}
			switch {
			case tt.errMsg == "" && (err != nil || tok.AccessToken != "the-access-token" || tok.ExpiresIn != 300 || tok.Scope != "openid"):
				t.Fatalf("Get: %+v, %v", tok, err)
			case tt.errMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.errMsg)):
				t.Fatalf("Get: %+v, %v; want an error saying %q", tok, err, tt.errMsg)
			}
		})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// idToken signs an ID token (ES256, key ID k1) with claims and nonce.
func idToken(t *testing.T, key *ecdsa.PrivateKey, claims jwt.Claims, nonce string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Claims(map[string]any{"nonce": nonce}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
