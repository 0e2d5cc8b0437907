package webapp

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
)

// TestSignInKey: a sign-in's DPoP key is an ES256 key that /login and
// /callback derive alike from the web app's secret and the state, different
// for every state and every secret, and that survives its JSON form.
func TestSignInKey(t *testing.T) {
	secretA := mustSecret(t).Derive(dpopKeyPurpose, 32)
	secretB := mustSecret(t).Derive(dpopKeyPurpose, 32)
	key := func(sec []byte, state string) *dpop.Key {
		t.Helper()
		k, err := signInKey(sec, state)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := key(secretA, "state-1")
	if k.Algorithm() != "ES256" {
		t.Errorf("algorithm %s, want ES256", k.Algorithm())
	}
	if key(secretA, "state-1").JKT() != k.JKT() {
		t.Error("the same state and secret derive different keys")
	}
	if key(secretA, "state-2").JKT() == k.JKT() || key(secretB, "state-1").JKT() == k.JKT() {
		t.Error("another state or secret derives the same key")
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := dpop.ParseKey(b)
	if err != nil || back.JKT() != k.JKT() {
		t.Fatalf("key after its JSON form: %v, thumbprint %v", err, back)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		state  string
	}{{"no secret", nil, "state-1"}, {"no state", secretA, ""}} {
		if _, err := signInKey(tc.secret, tc.state); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestPushRefused: when the PAR endpoint refuses the request or fails,
// /login shows an error page, logs the failure, and starts no sign-in (no
// pending cookie, no redirect).
func TestPushRefused(t *testing.T) {
	tests := []struct {
		name   string
		status int
		error  string
		want   int
		code   string
	}{
		{"invalid_scope", 400, "invalid_scope", 502, "par_invalid_scope"},
		{"invalid_client", 401, "invalid_client", 502, "par_invalid_client"},
		{"an odd error code", 400, `<b>"x"`, 502, "par_refused"},
		{"no error code", 400, "", 502, "par_refused"},
		{"server error", 500, "server_error", 503, "authz_unavailable"},
		{"too many requests", 429, "", 503, "authz_unavailable"},
		{"success without a request_uri", 201, "", 503, "authz_unavailable"},
	}
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	logs := &testlog.Buffer{}
	h.app.log = slog.New(slog.NewTextHandler(logs, nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op.mu.Lock()
			op.parStatus, op.parError = tc.status, tc.error
			op.mu.Unlock()
			logs.Take()
			r := h.do(h.newBrowser(), "GET", "/login", nil)
			if r.status != tc.want || errorCode(r.body) != tc.code {
				t.Fatalf("GET /login = %d %q, want %d %q", r.status, errorCode(r.body), tc.want, tc.code)
			}
			if r.location != "" || setCookie(r, pendingCookieName) != nil {
				t.Errorf("a refused push still started a sign-in: Location %q, cookies %q", r.location, r.header.Values("Set-Cookie"))
			}
			if l := logs.Take(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "pushed authorization request") {
				t.Errorf("the failure was not logged as an error:\n%s", l)
			}
		})
	}
	op.mu.Lock()
	op.parStatus = 0
	op.mu.Unlock()
	h.signIn(h.client) // pushing works again
}

// signInWithAPI signs h's browser in through a pushed request and returns
// the thumbprint of the key the push's proof was made with.
func signInWithAPI(t *testing.T, h *harness, c *http.Client) string {
	t.Helper()
	q := h.startLogin(c)
	jkt := q.Get("dpop_jkt")
	if jkt == "" {
		t.Fatal("the pushed authorization request carried no DPoP proof")
	}
	code := h.op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
	r := h.do(c, "GET", "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {h.op.issuer()}}.Encode(), nil)
	if r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("callback = %d → %q %q, want 303 → /", r.status, r.location, errorCode(r.body))
	}
	return jkt
}

// checkAPICalls checks that the fake API accepted every call in calls, each
// made as scheme with a proof of jkt ("" for none).
func checkAPICalls(t *testing.T, calls []apiCall, scheme, jkt string) {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("the API was not called")
	}
	for i, c := range calls {
		if c.err != "" || c.scheme != scheme || c.jkt != jkt {
			t.Errorf("API call %d (%s): scheme %q, proof of %q, refused: %q; want %s with a proof of %q", i, c.method, c.scheme, c.jkt, c.err, scheme, jkt)
		}
	}
}

// TestDPoPTokens: the sign-in's key binds the code (the proof at /par),
// proves itself at the code's exchange and at every refresh, and the API is
// called with "Authorization: DPoP <token>" and a proof of that key for each
// request's method, URL and token. Sign-out still revokes the refresh token.
func TestDPoPTokens(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	api := newFakeAPI(t, op)
	h.app.api.BaseURL = api.srv.URL + "/api"
	jkt := signInWithAPI(t, h, h.client)

	calls := op.tokenRequests()
	if len(calls) != 1 || calls[0] != (tokenCall{"authorization_code", jkt}) {
		t.Fatalf("token requests %+v, want the exchange with a proof of the pushed key %s", calls, jkt)
	}
	grant := h.onlyGrant()
	rec, err := h.app.tokens.load(t.Context(), grant)
	if err != nil {
		t.Fatal(err)
	}
	if rec.TokenType != "DPoP" || rec.DPoPKey == nil || rec.DPoPKey.JKT() != jkt || op.boundTo(rec.AccessToken) != jkt {
		t.Fatalf("token record: type %q, key %v; want a DPoP token bound to the pushed key", rec.TokenType, rec.DPoPKey)
	}

	page := h.do(h.client, "GET", "/", nil)
	if page.status != http.StatusOK {
		t.Fatalf("GET / = %d %q", page.status, errorCode(page.body))
	}
	csrf := csrfRE.FindStringSubmatch(page.body)
	if csrf == nil {
		t.Fatal("no CSRF token on the list")
	}
	if r := h.do(h.client, "POST", "/todos", url.Values{"title": {"Buy milk"}, "csrf": {csrf[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("POST /todos = %d %q", r.status, errorCode(r.body))
	}

	h.expireAccessToken(grant)
	if r := h.do(h.client, "GET", "/", nil); r.status != http.StatusOK {
		t.Fatalf("GET / after the access token expired = %d %q", r.status, errorCode(r.body))
	}
	calls = op.tokenRequests()
	if len(calls) != 2 || calls[1] != (tokenCall{"refresh_token", jkt}) {
		t.Fatalf("token requests %+v, want a refresh with a proof of %s", calls, jkt)
	}
	refreshed, err := h.app.tokens.load(t.Context(), grant)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.AccessToken == rec.AccessToken || refreshed.TokenType != "DPoP" || refreshed.DPoPKey.JKT() != jkt {
		t.Fatalf("refreshed record: token %q, type %q; want a new DPoP token, the same key", refreshed.AccessToken, refreshed.TokenType)
	}

	apiCalls := api.apiCalls()
	checkAPICalls(t, apiCalls, "DPoP", jkt)
	var methods []string
	for _, c := range apiCalls {
		methods = append(methods, c.method)
	}
	if got := strings.Join(methods, " "); got != "GET POST GET" {
		t.Errorf("API calls %q, want GET POST GET", got)
	}
	if last := apiCalls[len(apiCalls)-1]; last.token != refreshed.AccessToken {
		t.Errorf("after the refresh the API got token %q, want %q", last.token, refreshed.AccessToken)
	}

	// The record holds the key as a private JWK, sealed with the tokens.
	k := tokenKeyPrefix + grant
	sealed, found, err := h.app.tokens.store.Find(k)
	if err != nil || !found {
		t.Fatalf("record: found %v, %v", found, err)
	}
	plain, err := h.app.tokens.key.Open(sealed, []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Key map[string]string `json:"dpop_key"`
	}
	if err := json.Unmarshal(plain, &raw); err != nil || raw.Key["kty"] != "EC" || raw.Key["crv"] != "P-256" || raw.Key["d"] == "" {
		t.Errorf("stored dpop_key %v (%v), want a private P-256 JWK", raw.Key, err)
	}

	signOut(t, h, h.client)
	op.mu.Lock()
	revoked := op.revoked
	op.mu.Unlock()
	if len(revoked) != 1 || revoked[0] != refreshed.RefreshToken {
		t.Errorf("revoked %v, want [%s]", revoked, refreshed.RefreshToken)
	}
}

// TestUserInfoWithDPoP: when the ID token lacks the name and email, the
// web app asks the userinfo endpoint with its DPoP-bound access token, as
// "Authorization: DPoP <token>" with a proof of the sign-in's key.
func TestUserInfoWithDPoP(t *testing.T) {
	op := newFakeOP(t)
	op.bareIDToken = true
	h := newHarness(t, op, op.issuer())
	h.signIn(h.client)
	op.mu.Lock()
	calls := op.userinfo
	op.mu.Unlock()
	if len(calls) != 1 || calls[0] != "" {
		t.Fatalf("userinfo requests refused for %q, want one accepted", calls)
	}
	h.app.api.BaseURL = newFakeAPI(t, op).srv.URL + "/api"
	if page := h.do(h.client, "GET", "/", nil); !strings.Contains(page.body, "Ada Lovelace") || !strings.Contains(page.body, "ada@example.com") {
		t.Errorf("the signed-in page lacks the name and email from userinfo (%d %q)", page.status, errorCode(page.body))
	}
}

// signOut posts the sign-out form of c's signed-in page.
func signOut(t *testing.T, h *harness, c *http.Client) {
	t.Helper()
	tok := csrfRE.FindStringSubmatch(h.do(c, "GET", "/", nil).body)
	if tok == nil {
		t.Fatal("no sign-out form")
	}
	if r := h.do(c, "POST", "/logout", url.Values{"csrf": {tok[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("POST /logout = %d", r.status)
	}
}

// TestDPoPKeyAcrossRestart: the session's key is kept in the session store
// with its tokens, so that a web app started anew on the same store (SQL or
// Redis) and secret goes on calling the API and refreshing with it.
func TestDPoPKeyAcrossRestart(t *testing.T) {
	cases := []struct {
		name   string
		shared func(t *testing.T) sharedStore
	}{
		{"sqlite", func(t *testing.T) sharedStore { return sqlShared(t, storagetest.SQLite(t)) }},
		{"postgres", func(t *testing.T) sharedStore { return sqlShared(t, storagetest.Postgres(t)) }},
		{"mysql", func(t *testing.T) sharedStore { return sqlShared(t, storagetest.MySQL(t)) }},
		{"redis", redisShared},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shared := tc.shared(t)
			op := newFakeOP(t)
			api := newFakeAPI(t, op)
			key, err := secret.New()
			if err != nil {
				t.Fatal(err)
			}
			start := func() *harness {
				sessions, _ := shared(t)
				return newHarnessWith(t, op, op.issuer(), sessions, func(c *Config) {
					c.Secret = key
					c.APIURL = api.srv.URL + "/api"
				})
			}
			before := start()
			jkt := signInWithAPI(t, before, before.client)
			session := before.jarCookie(before.client, cookieName)

			after := start() // a new process: nothing in memory
			c := after.newBrowser()
			after.putJarCookie(c, cookieName, session)
			sctx, err := after.app.sessions.Load(t.Context(), session)
			if err != nil {
				t.Fatal(err)
			}
			grant := after.app.sessions.GetString(sctx, keyGrant)
			after.expireAccessToken(grant)
			if r := after.do(c, "GET", "/", nil); r.status != http.StatusOK {
				t.Fatalf("GET / after the restart = %d %q", r.status, errorCode(r.body))
			}
			if calls := op.tokenRequests(); len(calls) != 2 || calls[1] != (tokenCall{"refresh_token", jkt}) {
				t.Fatalf("token requests %+v, want a refresh with a proof of %s", calls, jkt)
			}
			checkAPICalls(t, api.apiCalls(), "DPoP", jkt)
		})
	}
}

// TestSessionWithoutKey: a session signed in before the web app used DPoP
// (a record with a bearer token and no key) keeps working until it ends:
// API calls as "Bearer <token>" without proofs, refreshes without proofs,
// and revocation at sign-out.
func TestSessionWithoutKey(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	api := newFakeAPI(t, op)
	h.app.api.BaseURL = api.srv.URL + "/api"
	h.signIn(h.client)
	grant := h.onlyGrant()

	// The record as the web app wrote it before: no token_type, no key.
	op.addRefreshToken("rt-old")
	now := time.Now()
	old := fmt.Sprintf(`{"access_token":"at-old","refresh_token":"rt-old","sub":"user-1","expiry":%q,"obtained":%q}`,
		now.Add(time.Hour).Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	k := tokenKeyPrefix + grant
	sealed, err := h.app.tokens.key.Seal([]byte(old), []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.app.tokens.store.Commit(k, sealed, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := len(op.tokenRequests())

	if r := h.do(h.client, "GET", "/", nil); r.status != http.StatusOK {
		t.Fatalf("GET / = %d %q", r.status, errorCode(r.body))
	}
	h.expireAccessToken(grant)
	if r := h.do(h.client, "GET", "/", nil); r.status != http.StatusOK {
		t.Fatalf("GET / after the access token expired = %d %q", r.status, errorCode(r.body))
	}
	calls := op.tokenRequests()[before:]
	if len(calls) != 1 || calls[0] != (tokenCall{"refresh_token", ""}) {
		t.Fatalf("token requests %+v, want one refresh without a proof", calls)
	}
	apiCalls := api.apiCalls()
	checkAPICalls(t, apiCalls, "Bearer", "")
	if len(apiCalls) != 2 || apiCalls[0].token != "at-old" || apiCalls[1].token == "at-old" {
		t.Errorf("API calls %+v, want at-old, then the refreshed token", apiCalls)
	}
	rec, err := h.app.tokens.load(t.Context(), grant)
	if err != nil {
		t.Fatal(err)
	}
	if rec.DPoPKey != nil || rec.TokenType != "Bearer" {
		t.Errorf("refreshed record: type %q, key %v; want a bearer token and no key", rec.TokenType, rec.DPoPKey)
	}

	signOut(t, h, h.client)
	op.mu.Lock()
	revoked := op.revoked
	op.mu.Unlock()
	if len(revoked) != 1 || revoked[0] != rec.RefreshToken {
		t.Errorf("revoked %v, want [%s]", revoked, rec.RefreshToken)
	}
}
