package webapp

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeAPI answers GET /api/todos as the API does: Eve's 400 envelope for a
// page that is not a whole number from 1 to 1,000,000, else an empty page.
// With refuse set it answers every list with 400, as an API that is
// stricter than the web app would.
type fakeAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	refuse bool
	lists  int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	a := &fakeAPI{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/todos", func(w http.ResponseWriter, r *http.Request) {
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
	a.srv = httptest.NewTLSServer(mux) // the same test certificate as the fake OP's, which the web app trusts
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAPI) listCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

// logBuffer collects a logger's output; safe for concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last call and forgets it.
func (b *logBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// TestListBadPage: a ?page= that is not a page number, or one the API
// refuses, gives a 400 page saying so, never a 500, and logs no error. The
// web app checks the page itself, so the API is not asked for it; a 400 of
// the API for a page it accepted is shown as a 400 too.
func TestListBadPage(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	api := newFakeAPI(t)
	h.app.api.BaseURL = api.srv.URL + "/api"
	logs := &logBuffer{}
	h.app.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.signIn(h.client)
	logs.take()

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
			if l := logs.take(); strings.Contains(l, "level=ERROR") {
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
		l := logs.take()
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
