package webapp

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
)

// fakeAPI answers GET /api/todos as the API does: Eve's 400 envelope for a
// page that is not a whole number from 1 to 1,000,000, else an empty page.
// With refuse set it answers every list with 400, as an API that is
// stricter than the web app would. POST /api/todos creates nothing but
// answers 201.
//
// It checks the access token as the real API does with DPoP (RFC 9449 §7):
// a token the fake OP bound to a key is accepted only as "Authorization:
// DPoP <token>" with a valid proof of that key for the request's method,
// URL and token, each proof once; a bearer token only as "Bearer <token>".
// Anything else is a 401.
type fakeAPI struct {
	srv    *httptest.Server
	op     *fakeOP
	dpop   *dpop.Checker
	mu     sync.Mutex
	refuse bool
	lists  int
	calls  []apiCall
}

// apiCall is a request the fake API saw: the scheme of its Authorization
// header, its token, the key of its proof ("" without one) and whether the
// API accepted it (err is why not).
type apiCall struct {
	method, scheme, token, jkt string
	err                        string
}

func newFakeAPI(t *testing.T, op *fakeOP) *fakeAPI {
	t.Helper()
	a := &fakeAPI{op: op, dpop: &dpop.Checker{Replays: dpop.NewMemoryReplays()}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/todos", func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		a.mu.Lock()
		a.lists++
		refuse := a.refuse
		a.mu.Unlock()
		page := 1
		if v := r.URL.Query().Get("page"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1_000_000 {
				refuse = true
			}
			page = n
		}
		if refuse {
			writeJSON(w, http.StatusBadRequest, map[string]any{"_status": "ERR",
				"_error": map[string]any{"code": 400, "message": "page must be a positive integer"}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"_items": []any{},
			"_meta": map[string]any{"page": page, "max_results": 10, "total": 0}, "_links": map[string]any{}})
	})
	mux.HandleFunc("POST /api/todos", func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(w, r) {
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"_id": "todo-1", "_status": "OK"})
	})
	a.srv = httptest.NewTLSServer(mux) // the same test certificate as the fake OP's, which the web app trusts
	t.Cleanup(a.srv.Close)
	return a
}

// authorized checks r's access token and proof, records the call, and
// answers 401 when it refuses them.
func (a *fakeAPI) authorized(w http.ResponseWriter, r *http.Request) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	call := apiCall{method: r.Method, scheme: scheme, token: token}
	bound := a.op.boundTo(token)
	proof, perr := dpop.ProofFrom(r.Header)
	switch {
	case perr != nil:
		call.err = perr.Error()
	case scheme == "DPoP":
		p, err := a.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: a.srv.URL + r.URL.Path, AccessToken: token})
		switch {
		case err != nil:
			call.err = err.Error()
		case bound == "":
			call.err = "a bearer token under the DPoP scheme"
		case p.JKT != bound:
			call.err = "a proof of another key than the token's"
		}
		call.jkt = p.JKT
	case scheme == "Bearer":
		if bound != "" {
			call.err = "a DPoP-bound token as a bearer token"
		}
		if proof != "" {
			call.jkt = "(a proof with a bearer token)"
		}
	default:
		call.err = "no access token"
	}
	a.mu.Lock()
	a.calls = append(a.calls, call)
	a.mu.Unlock()
	if call.err != "" {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"_status": "ERR",
			"_error": map[string]any{"code": 401, "message": call.err}})
		return false
	}
	return true
}

// apiCalls returns the requests the fake API saw.
func (a *fakeAPI) apiCalls() []apiCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apiCall(nil), a.calls...)
}

func (a *fakeAPI) listCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

// TestListBadPage: a ?page= that is not a page number, or one the API
// refuses, gives a 400 page saying so, never a 500, and logs no error. The
// web app checks the page itself, so the API is not asked for it; a 400 of
// the API for a page it accepted is shown as a 400 too.
func TestListBadPage(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	api := newFakeAPI(t, op)
	h.app.api.BaseURL = api.srv.URL + "/api"
	logs := &testlog.Buffer{}
	h.app.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.signIn(h.client)
	logs.Take()

	tests := []struct {
		page   string
		status int
		code   string // data-code of the error page; "" for the list
	}{
		{"", http.StatusOK, ""},
		{"1", http.StatusOK, ""},
		{"2", http.StatusOK, ""},
		{"1000000", http.StatusOK, ""},
		{"1000001", http.StatusBadRequest, "bad_page"},
		{"-1", http.StatusBadRequest, "bad_page"},
		{"0", http.StatusBadRequest, "bad_page"},
		{"abc", http.StatusBadRequest, "bad_page"},
		{"1.5", http.StatusBadRequest, "bad_page"},
		{"99999999999999999999999", http.StatusBadRequest, "bad_page"},
		{"%00", http.StatusBadRequest, "bad_page"},
	}
	for _, tc := range tests {
		t.Run("page="+tc.page, func(t *testing.T) {
			before := api.listCalls()
			r := h.do(h.client, "GET", "/?page="+url.QueryEscape(tc.page), nil)
			if r.status != tc.status || errorCode(r.body) != tc.code {
				t.Fatalf("GET /?page=%s = %d %q, want %d %q", tc.page, r.status, errorCode(r.body), tc.status, tc.code)
			}
			if tc.code != "" && api.listCalls() != before {
				t.Errorf("the API was asked for page %q", tc.page)
			}
			if tc.code == "" && !strings.Contains(r.body, `name="csrf"`) {
				t.Errorf("the list has no forms")
			}
			if l := logs.Take(); strings.Contains(l, "level=ERROR") {
				t.Errorf("logged an error:\n%s", l)
			}
		})
	}

	t.Run("API refuses the query", func(t *testing.T) {
		api.mu.Lock()
		api.refuse = true
		api.mu.Unlock()
		defer func() {
			api.mu.Lock()
			api.refuse = false
			api.mu.Unlock()
		}()
		r := h.do(h.client, "GET", "/?page=3", nil)
		if r.status != http.StatusBadRequest || errorCode(r.body) != "api_bad_request" {
			t.Fatalf("GET /?page=3 = %d %q, want 400 api_bad_request", r.status, errorCode(r.body))
		}
		if !strings.Contains(r.body, `id="sign-out"`) {
			t.Error("the error page offers no sign-out: the person is still signed in")
		}
		l := logs.Take()
		if strings.Contains(l, "level=ERROR") {
			t.Errorf("logged an error:\n%s", l)
		}
		if !strings.Contains(l, "level=WARN") {
			t.Errorf("the API's refusal was not logged as a warning:\n%s", l)
		}
	})

	// A form posted from a page keeps the page it was on only when it is
	// one the list accepts.
	for page, want := range map[string]string{"3": "/?page=3", "1000000": "/?page=1000000", "1000001": "/", "-1": "/", "abc": "/"} {
		if got := listURL(page); got != want {
			t.Errorf("listURL(%q) = %q, want %q", page, got, want)
		}
	}
}
