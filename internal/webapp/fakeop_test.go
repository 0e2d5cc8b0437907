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
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// fakeOP is a minimal OpenID provider for the web app's unit tests: just
// enough discovery, JWKS, pushed authorization request and token endpoint to
// drive the callback checks, to count refreshes and to see the DPoP proofs
// the web app sends. The real authorization server is exercised by the
// end-to-end tests in test/e2e.
//
// As the real one does, it checks a DPoP proof at /par and binds the code to
// its key, checks the proofs at /token (refusing a code's exchange with
// another key), and answers a token request with a proof with a DPoP token
// (token_type DPoP) bound to the proof's key (boundTo).
type fakeOP struct {
	t       *testing.T
	srv     *httptest.Server
	signers map[jose.SignatureAlgorithm]jose.Signer // one key per algorithm
	pubs    []jose.JSONWebKey
	dpop    *dpop.Checker

	mu          sync.Mutex
	codes       map[string]fakeCode // code → what it was issued for
	current     map[string]bool     // refresh tokens that may be used
	used        map[string]bool     // refresh tokens rotated away
	refreshes   int                 // successful refreshes
	reuses      int                 // refresh tokens presented twice
	revoked     []string
	ttl         time.Duration           // access-token lifetime
	refuseAll   bool                    // refresh answers invalid_grant
	refreshLag  time.Duration           // widens the race window
	idAlg       jose.SignatureAlgorithm // signs ID tokens; RS256 unless a test sets another
	seq         int
	noPAR       bool                  // discovery lists no pushed_authorization_request_endpoint
	parStatus   int                   // when set, /par answers it with parError
	parError    string                // the error code of that answer
	bareIDToken bool                  // ID tokens without name and email: the web app asks userinfo
	userinfo    []string              // what each userinfo request was refused for ("" accepted)
	pushed      map[string]url.Values // request_uri → pushed parameters, with the proof's key as dpop_jkt
	jktFor      map[string]string     // code challenge → the key its code is bound to
	tokenCalls  []tokenCall
	boundTokens map[string]string // access token → the key it is bound to
}

type fakeCode struct {
	nonce, challenge, jkt string
}

// tokenCall is a token request the fake OP answered: its grant type and
// the thumbprint of its DPoP proof's key ("" without a proof).
type tokenCall struct {
	grantType, jkt string
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	op := &fakeOP{t: t, signers: map[jose.SignatureAlgorithm]jose.Signer{}, codes: map[string]fakeCode{},
		current: map[string]bool{}, used: map[string]bool{}, ttl: time.Hour, idAlg: jose.RS256,
		dpop: &dpop.Checker{Replays: dpop.NewMemoryReplays()}, pushed: map[string]url.Values{},
		jktFor: map[string]string{}, boundTokens: map[string]string{}}
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
	mux.HandleFunc("POST /par", op.par)
	mux.HandleFunc("GET /userinfo", op.userInfo)
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
	op.mu.Lock()
	noPAR := op.noPAR
	op.mu.Unlock()
	meta := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"jwks_uri":                                       iss + "/jwks",
		"userinfo_endpoint":                              iss + "/userinfo",
		"revocation_endpoint":                            iss + "/revoke",
		"end_session_endpoint":                           iss + "/end_session",
		"code_challenge_methods_supported":               []string{"S256"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256", "EdDSA"},
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"authorization_response_iss_parameter_supported": true,
		"dpop_signing_alg_values_supported":              []string{"ES256"},
	}
	if !noPAR {
		meta["pushed_authorization_request_endpoint"] = iss + "/par"
	}
	writeJSON(w, 200, meta)
}

// clientOK reports whether r authenticates as the web app's client
// (client_secret_basic); if not, it answers invalid_client.
func clientOK(w http.ResponseWriter, r *http.Request) bool {
	id, sec, ok := r.BasicAuth()
	if !ok || id != "webapp" || sec != "s3cret" {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return false
	}
	return true
}

// proofKey checks the DPoP proof of a request to the endpoint at path and
// returns its key's thumbprint: "" without a proof. ok is false, and the
// request answered, when the proof is refused.
func (op *fakeOP) proofKey(w http.ResponseWriter, r *http.Request, path string) (jkt string, ok bool) {
	proof, perr := dpop.ProofFrom(r.Header)
	if perr != nil {
		writeJSON(w, 400, map[string]string{"error": perr.Code, "error_description": perr.Description})
		return "", false
	}
	if proof == "" {
		return "", true
	}
	p, err := op.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: op.issuer() + path})
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": dpop.InvalidProof, "error_description": err.Error()})
		return "", false
	}
	return p.JKT, true
}

// par is the pushed authorization request endpoint (RFC 9126): it keeps
// the parameters, with the key of the proof as dpop_jkt, under a new
// request_uri, and binds the codes of the request's challenge to the key.
func (op *fakeOP) par(w http.ResponseWriter, r *http.Request) {
	if !clientOK(w, r) {
		return
	}
	jkt, ok := op.proofKey(w, r, "/par")
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil || len(r.URL.RawQuery) > 0 {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.parStatus != 0 {
		writeJSON(w, op.parStatus, map[string]string{"error": op.parError, "error_description": "refused by the test"})
		return
	}
	params := url.Values{}
	for k, v := range r.PostForm {
		params[k] = v
	}
	if jkt != "" {
		params.Set("dpop_jkt", jkt)
		op.jktFor[params.Get("code_challenge")] = jkt
	}
	op.seq++
	uri := fmt.Sprintf("urn:ietf:params:oauth:request_uri:req-%d", op.seq)
	op.pushed[uri] = params
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": 60})
}

// userInfo is the userinfo endpoint (OpenID Connect Core §5.3). As the
// real one, it accepts a DPoP-bound access token only as "Authorization:
// DPoP <token>" with a proof of its key (RFC 9449 §7), a bearer token only
// as "Bearer <token>".
func (op *fakeOP) userInfo(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	bound := op.boundTo(token)
	var refused string
	switch proof, perr := dpop.ProofFrom(r.Header); {
	case perr != nil:
		refused = perr.Error()
	case scheme == "DPoP":
		p, err := op.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: op.issuer() + "/userinfo", AccessToken: token})
		if err != nil {
			refused = err.Error()
		} else if bound == "" || p.JKT != bound {
			refused = "the proof is not of the token's key"
		}
	case scheme != "Bearer" || bound != "":
		refused = "not a bearer token"
	}
	op.mu.Lock()
	op.userinfo = append(op.userinfo, refused)
	op.mu.Unlock()
	if refused != "" {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, 200, map[string]string{"sub": "user-1", "name": "Ada Lovelace", "email": "ada@example.com"})
}

// pushedParams returns the parameters pushed under requestURI, or nil.
func (op *fakeOP) pushedParams(requestURI string) url.Values {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.pushed[requestURI]
}

// bindChallenge binds the codes issued for challenge to the key jkt, as an
// authorization request's dpop_jkt does.
func (op *fakeOP) bindChallenge(challenge, jkt string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.jktFor[challenge] = jkt
}

// tokenRequests returns the token requests answered so far.
func (op *fakeOP) tokenRequests() []tokenCall {
	op.mu.Lock()
	defer op.mu.Unlock()
	return append([]tokenCall(nil), op.tokenCalls...)
}

// boundTo returns the key an access token is bound to: "" for a bearer
// token.
func (op *fakeOP) boundTo(accessToken string) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.boundTokens[accessToken]
}

// issueCode registers a code as if the person had signed in for an
// authorization request with the given nonce and code challenge; it is
// bound to the key the request named, if any.
func (op *fakeOP) issueCode(nonce, challenge string) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.seq++
	code := fmt.Sprintf("code-%d", op.seq)
	op.codes[code] = fakeCode{nonce: nonce, challenge: challenge, jkt: op.jktFor[challenge]}
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
	if !clientOK(w, r) {
		return
	}
	jkt, ok := op.proofKey(w, r, "/token")
	if !ok {
		return
	}
	op.mu.Lock()
	op.tokenCalls = append(op.tokenCalls, tokenCall{grantType: r.PostFormValue("grant_type"), jkt: jkt})
	op.mu.Unlock()
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
		if c.jkt != "" && c.jkt != jkt {
			writeJSON(w, 400, map[string]string{"error": dpop.InvalidProof, "error_description": "the code is bound to another key"})
			return
		}
		op.issue(w, c.nonce, jkt)
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
		op.issue(w, "", jkt)
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

// issue answers a token request with new tokens; with jkt, the access
// token is a DPoP token bound to that key.
func (op *fakeOP) issue(w http.ResponseWriter, nonce, jkt string) {
	op.mu.Lock()
	op.seq++
	n := op.seq
	rt := fmt.Sprintf("rt-%d", n)
	at := fmt.Sprintf("at-%d", n)
	op.current[rt] = true
	tokenType := "Bearer"
	if jkt != "" {
		op.boundTokens[at] = jkt
		tokenType = "DPoP"
	}
	ttl, signer, bare := op.ttl, op.signers[op.idAlg], op.bareIDToken
	op.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": op.issuer(), "sub": "user-1", "aud": "webapp",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if !bare {
		claims["name"], claims["email"] = "Ada Lovelace", "ada@example.com"
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	idt, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		op.t.Error(err)
	}
	writeJSON(w, 200, map[string]any{
		"access_token":  at,
		"token_type":    tokenType,
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
