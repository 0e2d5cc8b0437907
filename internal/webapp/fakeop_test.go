package webapp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeOP is a minimal OpenID provider for the web app's unit tests: just
// enough discovery, JWKS and token endpoint to drive the callback checks and
// to count refreshes. The real authorization server is exercised by the
// end-to-end tests in internal/e2e.
type fakeOP struct {
	t       *testing.T
	srv     *httptest.Server
	signers map[jose.SignatureAlgorithm]jose.Signer // one key per algorithm
	pubs    []jose.JSONWebKey

	mu         sync.Mutex
	codes      map[string]fakeCode // code → what it was issued for
	current    map[string]bool     // refresh tokens that may be used
	used       map[string]bool     // refresh tokens rotated away
	refreshes  int                 // successful refreshes
	reuses     int                 // refresh tokens presented twice
	revoked    []string
	ttl        time.Duration           // access-token lifetime
	refuseAll  bool                    // refresh answers invalid_grant
	refreshLag time.Duration           // widens the race window
	idAlg      jose.SignatureAlgorithm // signs ID tokens; RS256 unless a test sets another
	seq        int
}

type fakeCode struct {
	nonce, challenge string
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	op := &fakeOP{t: t, signers: map[jose.SignatureAlgorithm]jose.Signer{}, codes: map[string]fakeCode{},
		current: map[string]bool{}, used: map[string]bool{}, ttl: time.Hour, idAlg: jose.RS256}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for alg, key := range map[jose.SignatureAlgorithm]any{jose.RS256: rsaKey, jose.ES256: ecKey, jose.EdDSA: edKey} {
		jwk := jose.JSONWebKey{Key: key, KeyID: "k-" + string(alg), Algorithm: string(alg), Use: "sig"}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		op.signers[alg] = signer
		op.pubs = append(op.pubs, jwk.Public())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: op.pubs})
	})
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		op.revoked = append(op.revoked, r.PostFormValue("token"))
		delete(op.current, r.PostFormValue("token"))
		op.mu.Unlock()
	})
	op.srv = httptest.NewTLSServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) issuer() string { return op.srv.URL }

func (op *fakeOP) discovery(w http.ResponseWriter, r *http.Request) {
	iss := op.issuer()
	writeJSON(w, 200, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"jwks_uri":                                       iss + "/jwks",
		"revocation_endpoint":                            iss + "/revoke",
		"end_session_endpoint":                           iss + "/end_session",
		"code_challenge_methods_supported":               []string{"S256"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256", "EdDSA"},
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"authorization_response_iss_parameter_supported": true,
	})
}

// issueCode registers a code as if the person had signed in for an
// authorization request with the given nonce and code challenge.
func (op *fakeOP) issueCode(nonce, challenge string) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.seq++
	code := fmt.Sprintf("code-%d", op.seq)
	op.codes[code] = fakeCode{nonce: nonce, challenge: challenge}
	return code
}

// addRefreshToken makes rt a valid refresh token.
func (op *fakeOP) addRefreshToken(rt string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.current[rt] = true
}

func (op *fakeOP) counts() (refreshes, reuses int) {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.refreshes, op.reuses
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	id, sec, ok := r.BasicAuth()
	if !ok || id != "webapp" || sec != "s3cret" {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		op.mu.Lock()
		c, ok := op.codes[r.PostFormValue("code")]
		delete(op.codes, r.PostFormValue("code"))
		op.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		op.issue(w, c.nonce)
	case "refresh_token":
		if op.refreshLag > 0 {
			time.Sleep(op.refreshLag)
		}
		rt := r.PostFormValue("refresh_token")
		op.mu.Lock()
		if op.used[rt] {
			op.reuses++
		}
		if op.refuseAll || !op.current[rt] {
			op.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(op.current, rt)
		op.used[rt] = true
		op.refreshes++
		op.mu.Unlock()
		op.issue(w, "")
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (op *fakeOP) issue(w http.ResponseWriter, nonce string) {
	op.mu.Lock()
	op.seq++
	n := op.seq
	rt := fmt.Sprintf("rt-%d", n)
	op.current[rt] = true
	ttl, signer := op.ttl, op.signers[op.idAlg]
	op.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": op.issuer(), "sub": "user-1", "aud": "webapp",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"name": "Ada Lovelace", "email": "ada@example.com",
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	idt, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		op.t.Error(err)
	}
	writeJSON(w, 200, map[string]any{
		"access_token":  fmt.Sprintf("at-%d", n),
		"token_type":    "Bearer",
		"expires_in":    int(ttl.Seconds()),
		"refresh_token": rt,
		"id_token":      idt,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
