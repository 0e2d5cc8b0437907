package authz

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestHostileInput_AllEndpoints sends malformed requests to every endpoint
// of the role, on every backend: each gets a 4xx in the endpoint's own
// error shape — RFC 6749 §5.2 JSON for token, revocation, introspection
// and userinfo; an HTML error page (never a redirect to an unchecked
// address) for the browser endpoints — and never a 5xx.
func TestHostileInput_AllEndpoints(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { hostileInput(t, newEnvDSN(t, b.DSN(t), nil)) })
	}
}

func hostileInput(t *testing.T, e *env) {
	_, ch := pkce()
	good := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	huge := "a=" + strings.Repeat("x", 2<<20)
	badUTF8 := "\xff\xfe"
	form := "application/x-www-form-urlencoded"
	type tc struct {
		name, method, path, ctype, body string
		basic                           bool // authenticate as the web app
		header                          map[string]string
		want                            int    // 0: any 4xx
		errCode                         string // JSON error expected ("" for pages)
	}
	// An assertion naming a client with a NUL in its ID (its signature is
	// never checked: no such client exists).
	nulAssertion := b64url(`{"alg":"ES256","typ":"JWT"}`) + "." + b64url(`{"iss":"a\u0000b","sub":"a\u0000b","aud":"x","exp":9999999999}`) + "." + b64url("sig")
	jsonEndpoints := []string{"/token", "/revoke", "/introspect"}
	var cases []tc
	for _, p := range jsonEndpoints {
		cases = append(cases,
			tc{name: "GET", method: "GET", path: p, want: 405, errCode: "invalid_request"},
			tc{name: "PUT", method: "PUT", path: p, ctype: form, body: "token=x", want: 405, errCode: "invalid_request"},
			tc{name: "huge body", method: "POST", path: p, ctype: form, body: huge, basic: true, want: 413, errCode: "invalid_request"},
			tc{name: "JSON body", method: "POST", path: p, ctype: "application/json", body: `{"grant_type":"client_credentials","token":"x"}`, basic: true, want: 415, errCode: "invalid_request"},
			tc{name: "no content type", method: "POST", path: p, body: "token=x", basic: true, want: 415, errCode: "invalid_request"},
			tc{name: "invalid UTF-8 value", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=" + url.QueryEscape(badUTF8), basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "invalid UTF-8 name", method: "POST", path: p, ctype: form, body: url.QueryEscape(badUTF8) + "=1&token=x", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "NUL in a value", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=a%00b&scope=a%00b", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "NUL client_id", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x&client_id=a%00b&client_secret=x", want: 400, errCode: "invalid_request"},
			tc{name: "NUL in the Basic client ID", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x",
				header: map[string]string{"Authorization": "Basic " + b64("third%00:x")}, want: 401, errCode: "invalid_client"},
			tc{name: "NUL in the assertion's client", method: "POST", path: p, ctype: form,
				body: "grant_type=client_credentials&token=x&client_assertion_type=" + url.QueryEscape(assertionType) + "&client_assertion=" + nulAssertion,
				want: 401, errCode: "invalid_client"},
			tc{name: "duplicate parameter", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=a&token=b&scope=x&scope=y", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "duplicate across query and body", method: "POST", path: p + "?token=a", ctype: form, body: "grant_type=client_credentials&token=b", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "malformed form", method: "POST", path: p, ctype: form, body: "token=%zz", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "invalid UTF-8 client_id", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x&client_id=" + url.QueryEscape(badUTF8) + "&client_secret=x", want: 400, errCode: "invalid_request"},
			tc{name: "malformed Basic", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x", header: map[string]string{"Authorization": "Basic !!!"}, want: 401, errCode: "invalid_client"},
			tc{name: "Basic with bad escape", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x", header: map[string]string{"Authorization": "Basic " + b64("a%zz:b")}, want: 401, errCode: "invalid_client"},
			tc{name: "Basic and client_secret", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x&client_secret=y", basic: true, want: 400, errCode: "invalid_request"},
			tc{name: "CRLF in client_id", method: "POST", path: p, ctype: form, body: "grant_type=client_credentials&token=x&client_id=a%0d%0aSet-Cookie:+x=1&client_secret=x", want: 401, errCode: "invalid_client"},
		)
	}
	cases = append(cases,
		tc{name: "unknown grant", method: "POST", path: "/token", ctype: form, body: "grant_type=urn:evil", basic: true, want: 400, errCode: "unsupported_grant_type"},
		tc{name: "no grant", method: "POST", path: "/token", ctype: form, body: "code=x", basic: true, want: 400, errCode: "invalid_request"},
		tc{name: "password grant", method: "POST", path: "/token", ctype: form, body: "grant_type=password&username=alice&password=x", basic: true, want: 400, errCode: "unsupported_grant_type"},
		tc{name: "code without redirect_uri", method: "POST", path: "/token", ctype: form, body: "grant_type=authorization_code&code=x", basic: true, want: 400, errCode: "invalid_request"},
		tc{name: "refresh without token", method: "POST", path: "/token", ctype: form, body: "grant_type=refresh_token", basic: true, want: 400, errCode: "invalid_request"},
		tc{name: "parameters in query", method: "POST", path: "/token?grant_type=client_credentials", ctype: form, body: "", basic: true, want: 400, errCode: "invalid_request"},
		tc{name: "huge code", method: "POST", path: "/token", ctype: form, body: "grant_type=authorization_code&redirect_uri=x&code=" + strings.Repeat("c", 500_000), basic: true, want: 400, errCode: "invalid_grant"},
		tc{name: "revoke without token", method: "POST", path: "/revoke", ctype: form, body: "", basic: true, want: 400, errCode: "invalid_request"},
		tc{name: "userinfo no token", method: "GET", path: "/userinfo", want: 401, errCode: "invalid_request"},
		tc{name: "userinfo token in query", method: "GET", path: "/userinfo?access_token=x", want: 401, errCode: "invalid_request"},
		tc{name: "userinfo garbage token", method: "GET", path: "/userinfo", header: map[string]string{"Authorization": "Bearer " + badUTF8}, want: 401, errCode: "invalid_token"},
		tc{name: "userinfo DELETE", method: "DELETE", path: "/userinfo", want: 405, errCode: "invalid_request"},
		tc{name: "jwks POST", method: "POST", path: "/jwks", ctype: form, want: 405, errCode: "invalid_request"},
		tc{name: "discovery POST", method: "POST", path: "/.well-known/openid-configuration", ctype: form, want: 405, errCode: "invalid_request"},
	)
	// Browser endpoints: error pages.
	for _, p := range []string{"/authorize", "/login", "/consent", "/logout", "/end_session"} {
		cases = append(cases,
			tc{name: "PUT", method: "PUT", path: p, ctype: form, want: 405},
			tc{name: "huge body", method: "POST", path: p, ctype: form, body: huge, want: 413},
			tc{name: "JSON body", method: "POST", path: p, ctype: "application/json", body: `{"a":1}`, want: 415},
			tc{name: "invalid UTF-8", method: "GET", path: p + "?id=" + url.QueryEscape(badUTF8) + "&client_id=" + url.QueryEscape(badUTF8), want: 400},
			tc{name: "duplicate", method: "GET", path: p + "?id=a&id=b&client_id=a&client_id=b", want: 400},
		)
	}
	dup := url.Values{}
	for k, v := range good {
		dup[k] = v
	}
	dup["state"] = []string{"a", "b"}
	crlfState := url.Values{}
	for k, v := range good {
		crlfState[k] = v
	}
	crlfState.Set("state", "x\r\nSet-Cookie: evil=1")
	crlfRedirect := url.Values{}
	for k, v := range good {
		crlfRedirect[k] = v
	}
	crlfRedirect.Set("redirect_uri", webappRedir+"\r\nLocation: https://evil.example")
	cases = append(cases,
		tc{name: "authorize duplicate state", method: "GET", path: "/authorize?" + dup.Encode(), want: 400},
		tc{name: "authorize CRLF redirect_uri", method: "GET", path: "/authorize?" + crlfRedirect.Encode(), want: 400},
		tc{name: "authorize huge parameter", method: "GET", path: "/authorize?" + good.Encode() + "&login_hint=" + strings.Repeat("h", 100_000), want: 303},
		tc{name: "login invalid UTF-8 username", method: "POST", path: "/login", ctype: form, body: "username=" + url.QueryEscape(badUTF8) + "&password=x", want: 400},
		tc{name: "login NUL in the username", method: "POST", path: "/login", ctype: form, body: "username=a%00b&password=x", want: 400},
		tc{name: "end_session unknown client", method: "GET", path: "/end_session?client_id=nobody&post_logout_redirect_uri=https://evil.example/", want: 400},
		tc{name: "end_session garbage hint", method: "GET", path: "/end_session?id_token_hint=" + url.QueryEscape(badUTF8+"x.y.z"), want: 400},
		tc{name: "unknown path", method: "GET", path: "/nothing-here", want: 404},
	)

	client := e.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range cases {
		short, _, _ := strings.Cut(c.path, "?")
		t.Run(short+" "+c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, e.ts.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.basic {
				req.SetBasicAuth("gatehouse-webapp", webappSecret)
			}
			for k, v := range c.header {
				req.Header[k] = []string{v}
			}
			resp, err := client.Do(req)
			if err != nil {
				// The server may close the connection after refusing a
				// huge body; that is not a server error.
				if c.want == 413 {
					return
				}
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if c.want == 303 {
				// An error redirect to the registered redirect_uri.
				if q := callback(t, resp); resp.StatusCode != 303 || q.Get("error") != "invalid_request" {
					t.Fatalf("want an invalid_request redirect, got %d %v", resp.StatusCode, q)
				}
				return
			}
			if resp.StatusCode >= 500 || resp.StatusCode < 400 || (c.want != 0 && resp.StatusCode != c.want) {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, c.want, body)
			}
			if strings.ContainsAny(resp.Header.Get("Location"), "\r\n") || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), "evil") {
				t.Fatal("header injection")
			}
			ct := resp.Header.Get("Content-Type")
			if c.errCode != "" {
				var m map[string]any
				if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &m) != nil || m["error"] != c.errCode {
					t.Fatalf("want JSON error %q, got %s %.200s", c.errCode, ct, body)
				}
			} else if !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("want an error page, got %s %.200s", ct, body)
			}
		})
	}
	// The state with CR/LF is carried percent-encoded, never as a header.
	resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+crlfState.Encode())
	if strings.ContainsAny(resp.Header.Get("Location"), "\r\n") || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), "evil") {
		t.Fatal("header injection through state")
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
