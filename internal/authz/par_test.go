package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of pushed authorization requests (RFC 9126), with the attacks on
// them: a request_uri used twice, by another client, late or forged, and
// parameters changed in the browser.

// pushParams are the parameters of a code request by third.
func pushParams(challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "redirect_uri": {thirdRedir}, "scope": {"openid todos:read"},
		"state": {"st-" + randomSuffix()}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// push posts params to /par as third and returns the request_uri.
func (e *env) push(params url.Values, header http.Header) string {
	e.t.Helper()
	if header == nil {
		header = http.Header{"Authorization": {basic("third", thirdSecret)}}
	}
	st, body := e.postForm("/par", params, header)
	if st != http.StatusCreated {
		e.t.Fatalf("par: %d %v", st, body)
	}
	uri, _ := body["request_uri"].(string)
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] != float64(60) {
		e.t.Fatalf("par answer: %v", body)
	}
	return uri
}

// authorizePushed opens /authorize with a request_uri in a browser and
// returns the response (after sign-in and consent, if asked).
func (e *env) authorizePushed(clientID, uri string) *http.Response {
	e.t.Helper()
	c := e.browser()
	resp, body := e.get(c, e.ts.URL+"/authorize?"+url.Values{"client_id": {clientID}, "request_uri": {uri}}.Encode())
	if strings.Contains(resp.Request.URL.Path, "/login") {
		resp, body = e.login(c, body, "alice", alicePassword)
	}
	if resp.Request != nil && strings.Contains(resp.Request.URL.Path, "/consent") && resp.StatusCode == 200 {
		f := hidden(body)
		f.Set("decision", "allow")
		resp, _ = e.post(c, e.ts.URL+"/consent", f)
	}
	return resp
}

func TestPAR_Flow(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	params := pushParams(ch)
	uri := e.push(params, nil)
	q := callback(t, e.authorizePushed("third", uri))
	if q.Get("code") == "" || q.Get("state") != params.Get("state") || q.Get("iss") != e.ts.URL {
		t.Fatalf("callback: %v", q)
	}
	st, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v)
	if st != 200 || tr.Scope != "openid todos:read" {
		t.Fatalf("exchange: %d %+v", st, tr)
	}
	// Used once: a second use, as by whoever copied the URL, is refused.
	resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+url.Values{"client_id": {"third"}, "request_uri": {uri}}.Encode())
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a request_uri used again: %d", resp.StatusCode)
	}
	if !strings.Contains(e.logs.String(), `"event":"par_reuse"`) {
		t.Error("the second use is not in the audit log")
	}
}

// TestPAR_BrowserCannotChangeParameters: parameters beside request_uri are
// not used: a scope added in the address bar is not granted.
func TestPAR_BrowserCannotChangeParameters(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	params := pushParams(ch)
	params.Set("scope", "openid")
	uri := e.push(params, nil)
	c := e.browser()
	resp, body := e.get(c, e.ts.URL+"/authorize?"+url.Values{"client_id": {"third"}, "request_uri": {uri},
		"scope": {"openid todos:read"}, "redirect_uri": {"https://evil.example/cb"}}.Encode())
	if strings.Contains(resp.Request.URL.Path, "/login") {
		resp, body = e.login(c, body, "alice", alicePassword)
	}
	if strings.Contains(resp.Request.URL.Path, "/consent") {
		f := hidden(body)
		f.Set("decision", "allow")
		resp, _ = e.post(c, e.ts.URL+"/consent", f)
	}
	q := callback(t, resp)
	if !strings.HasPrefix(resp.Header.Get("Location"), thirdRedir) {
		t.Fatalf("redirected to %s", resp.Header.Get("Location"))
	}
	if st, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v); st != 200 || tr.Scope != "openid" {
		t.Fatalf("exchange: %d, scope %q, want openid", st, tr.Scope)
	}
}

func TestPAR_BadRequestURI(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	uri := e.push(pushParams(ch), nil)
	// A client that could take third's request in every other respect.
	now := time.Now().UTC()
	if err := e.store.CreateClient(context.Background(), storage.Client{
		ID: "twin", Name: "twin", Public: true, RedirectURIs: []string{thirdRedir}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "todos:read"}, FirstParty: true, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, client, uri string
		late              time.Duration
	}{
		{"another client's", "twin", uri, 0},
		{"forged", "third", "urn:ietf:params:oauth:request_uri:" + strings.Repeat("A", 120), 0},
		{"changed", "third", uri[:len(uri)-4] + "AAAA", 0},
		{"not a request_uri", "third", "https://evil.example/req", 0},
		{"expired", "third", uri, 61 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Add(tc.late)
			resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+url.Values{"client_id": {tc.client}, "request_uri": {tc.uri}}.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestPAR_EndpointErrors(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	auth := http.Header{"Authorization": {basic("third", thirdSecret)}}
	with := func(f func(url.Values)) url.Values {
		p := pushParams(ch)
		f(p)
		return p
	}
	for _, tc := range []struct {
		name    string
		params  url.Values
		header  http.Header
		want    int
		wantErr string
	}{
		{"no client authentication", pushParams(ch), nil, 401, "invalid_client"},
		{"a wrong secret", pushParams(ch), http.Header{"Authorization": {basic("third", "wrong")}}, 401, "invalid_client"},
		{"an unregistered redirect_uri", with(func(p url.Values) { p.Set("redirect_uri", "https://evil.example/cb") }), auth, 400, "invalid_request"},
		{"no PKCE", with(func(p url.Values) { p.Del("code_challenge") }), auth, 400, "invalid_request"},
		{"implicit", with(func(p url.Values) { p.Set("response_type", "token") }), auth, 400, "unsupported_response_type"},
		{"a scope not allowed", with(func(p url.Values) { p.Set("scope", "todos:write") }), auth, 400, "invalid_scope"},
		{"a request_uri inside", with(func(p url.Values) { p.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }), auth, 400, "invalid_request"},
		{"a malformed dpop_jkt", with(func(p url.Values) { p.Set("dpop_jkt", "x") }), auth, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := e.postForm("/par", tc.params, tc.header)
			if st != tc.want || body["error"] != tc.wantErr {
				t.Fatalf("%d %v, want %d %s", st, body, tc.want, tc.wantErr)
			}
		})
	}
	// Parameters in the query are refused (RFC 9126 §2.1: the body only).
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/par?scope=openid", strings.NewReader(pushParams(ch).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basic("third", thirdSecret))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("parameters in the query: %d", resp.StatusCode)
	}
}

// TestPAR_Required: a client registered with
// require_pushed_authorization_requests, or every client on a server that
// requires it, is refused a request that was not pushed.
func TestPAR_Required(t *testing.T) {
	for _, serverWide := range []bool{false, true} {
		e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.RequirePAR = serverWide })
		if !serverWide {
			if err := e.store.SetClientRequirePAR(context.Background(), "third", true, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		_, ch := pkce()
		p := authParams("third", thirdRedir, ch, "openid")
		resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
		if q := callback(t, resp); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "push") {
			t.Fatalf("server-wide %v: not pushed: %v", serverWide, q)
		}
		if q := callback(t, e.authorizePushed("third", e.push(pushParams(ch), nil))); q.Get("code") == "" {
			t.Fatalf("server-wide %v: pushed: %v", serverWide, q)
		}
		m := e.discovery()
		if m["require_pushed_authorization_requests"] != serverWide || m["pushed_authorization_request_endpoint"] != e.ts.URL+"/par" {
			t.Fatalf("discovery: %v", m)
		}
	}
}

// discovery returns the discovery document.
func (e *env) discovery() map[string]any {
	e.t.Helper()
	_, body := e.get(e.ts.Client(), e.ts.URL+"/.well-known/openid-configuration")
	m := map[string]any{}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// TestPAR_DPoPAndPrivateKeyJWT: a client authenticating with
// private_key_jwt pushes with its assertion (aud the /par endpoint), and a
// DPoP proof at /par binds the code to its key.
func TestPAR_DPoPAndPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	sk := newSigner(t, "k1")
	now := time.Now().UTC()
	if err := e.store.CreateClient(context.Background(), storage.Client{
		ID: "fapi", Name: "fapi", RedirectURIs: []string{thirdRedir}, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "todos:read"}, AuthMethod: storage.AuthPrivateKeyJWT, JWKS: jwks(t, sk),
		DPoPBound: true, RequirePAR: true, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	assertion := func(aud string) url.Values {
		m := e.assertionClaims("fapi")
		m["aud"] = aud
		return url.Values{"client_assertion_type": {assertionType}, "client_assertion": {sk.sign(t, m, false)}}
	}
	key := newDPoPKey(t)
	v, ch := pkce()
	params := pushParams(ch)
	params.Set("scope", "openid")
	for k, vs := range assertion(e.ts.URL + "/par") {
		params[k] = vs
	}
	uri := e.push(params, http.Header{"DPoP": {e.proof(key, "POST", "/par", "", "")}})
	q := callback(t, e.authorizePushed("fapi", uri))
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {thirdRedir}, "code_verifier": {v}}
	for k, vs := range assertion(e.ts.URL) {
		exchange[k] = vs
	}
	if st, body := e.postForm("/token", exchange, http.Header{"DPoP": {e.proof(newDPoPKey(t), "POST", "/token", "", "")}}); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("exchange with another key: %d %v", st, body)
	}
	for k, vs := range assertion(e.ts.URL) {
		exchange[k] = vs
	}
	st, body := e.postForm("/token", exchange, http.Header{"DPoP": {e.proof(key, "POST", "/token", "", "")}})
	if st != 200 || body["token_type"] != "DPoP" || cnfJKT(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("exchange with the key: %d %v", st, body)
	}
}

// TestPAR_ConcurrentUse: one request_uri opened by many browsers at once,
// on two instances, goes on in one of them only.
func TestPAR_ConcurrentUse(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	uri := e.push(pushParams(ch), nil)
	const n = 12
	got := e.raceInstances(n, func(inst *env) bool {
		c := inst.browser()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(inst.ts.URL + "/authorize?" + url.Values{"client_id": {"third"}, "request_uri": {uri}}.Encode())
		if err != nil {
			t.Error(err)
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusBadRequest
	})
	if got != 1 {
		t.Fatalf("%d of %d concurrent uses of one request_uri went on, want 1", got, n)
	}
}
