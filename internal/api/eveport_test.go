package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// The Eve port test: the people / works application of Eve's
// documentation (testdata/eve-people-works.yaml, its DOMAIN as YAML),
// driven with the requests an Eve client (Python requests against Eve)
// sends, each answer compared with the one Eve gives: status, headers and
// body shape. Ids, etags and dates are compared by shape.

// portEnv is the API serving the people / works file, with alice's and
// bob's tokens (every scope of the file) and the store beneath it.
type portEnv struct {
	*env
	store *docstore.Store
}

func newPortEnv(t *testing.T, b storagetest.Backend) *portEnv {
	t.Helper()
	e := newEnv(t, b, "", withFile("testdata/eve-people-works.yaml"),
		withScopes("people:read", "people:write", "works:read", "works:write"))
	return &portEnv{env: e, store: e.docs}
}

// pythonHeaders are the headers requests sends with every request.
var pythonHeaders = []string{"User-Agent", "python-requests/2.32.3", "Accept", "*/*", "Accept-Encoding", "gzip, deflate"}

// py sends a request as requests does: its default headers, a JSON body
// (json=…) as json.dumps writes it, params URL-encoded in their order.
func (e *portEnv) py(method, path, token, body string, hdr ...string) resp {
	e.t.Helper()
	return e.do(method, path, token, body, append(slices.Clone(pythonHeaders), hdr...)...)
}

// params encodes key, value pairs in order as requests' params= does.
func params(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return "?" + b.String()
}

var (
	objectIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)
	etagRE     = regexp.MustCompile(`^[0-9a-f]{8,}$`)
)

// isRFC1123 reports whether v is a date as Eve writes it by default.
func isRFC1123(v any) bool {
	s, _ := v.(string)
	_, err := time.Parse(time.RFC1123, s)
	return err == nil && strings.HasSuffix(s, " GMT")
}

// at returns the value at path in v (map keys, or list indexes).
func at(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// link is a _links entry as Eve writes it.
type link struct{ title, href string }

// checkLink compares the _links entry at path with want; a want href with
// a query string is compared by its parameters (Eve orders them
// max_results, where, sort, version, page and leaves out page=1; a client
// follows either).
func (e *portEnv) checkLink(r resp, name string, want link, path ...string) {
	e.t.Helper()
	got, _ := at(r.body, append(path, "_links", name)...).(map[string]any)
	if got == nil {
		e.t.Errorf("_links.%s missing: %s", name, r.raw)
		return
	}
	if got["title"] != want.title {
		e.t.Errorf("_links.%s.title = %v, want %q", name, got["title"], want.title)
	}
	href, _ := got["href"].(string)
	gp, gq, _ := strings.Cut(href, "?")
	wp, wq, _ := strings.Cut(want.href, "?")
	gv, err1 := url.ParseQuery(gq)
	wv, err2 := url.ParseQuery(wq)
	if gv.Get("page") == "1" && !wv.Has("page") {
		gv.Del("page")
	}
	if gv.Get("max_results") == "25" && !wv.Has("max_results") {
		gv.Del("max_results")
	}
	if gp != wp || err1 != nil || err2 != nil || gv.Encode() != wv.Encode() {
		e.t.Errorf("_links.%s.href = %q, want %q", name, href, want.href)
	}
}

// checkMeta checks a document's meta fields as Eve writes them.
func (e *portEnv) checkMeta(doc any, what string, extra map[string]any) {
	e.t.Helper()
	m, _ := doc.(map[string]any)
	if id, _ := m["_id"].(string); !objectIDRE.MatchString(id) {
		e.t.Errorf("%s: _id = %v", what, m["_id"])
	}
	if tag, _ := m["_etag"].(string); !etagRE.MatchString(tag) {
		e.t.Errorf("%s: _etag = %v", what, m["_etag"])
	}
	if !isRFC1123(m["_created"]) || !isRFC1123(m["_updated"]) {
		e.t.Errorf("%s: _created %v, _updated %v: not RFC 1123", what, m["_created"], m["_updated"])
	}
	for k, v := range extra {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			e.t.Errorf("%s: %s = %v, want %v", what, k, m[k], v)
		}
	}
}

// keys returns the sorted keys of the object v.
func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// lastnames lists the lastname of a list answer's items.
func lastnames(r resp) []string {
	var out []string
	items, _ := r.body["_items"].([]any)
	for _, it := range items {
		out = append(out, fmt.Sprint(it.(map[string]any)["lastname"]))
	}
	return out
}

// The people of the test, as an Eve client posts them (json.dumps'
// separators, RFC 1123 dates). Doe is the oldest.
const peopleBulk = `[` +
	`{"firstname": "John", "lastname": "Doe", "role": ["author"], "location": {"address": "422 South Gay Street", "city": "Auburn"}, "born": "Thu, 27 Aug 1970 14:37:13 GMT"}, ` +
	`{"firstname": "Serena", "lastname": "Love", "role": ["author", "copy"], "born": "Sat, 01 Jan 1983 00:00:00 GMT"}, ` +
	`{"firstname": "Mark", "lastname": "Green", "role": ["contributor"], "born": "Mon, 02 Mar 1987 09:00:00 GMT"}, ` +
	`{"firstname": "Anne", "lastname": "White", "born": "Fri, 19 Jul 1991 12:30:00 GMT"}, ` +
	`{"firstname": "Julia", "lastname": "Black", "born": "Tue, 11 Nov 1975 08:15:00 GMT"}` +
	`]`

func TestEvePort(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newPortEnv(t, b)
			ids := map[string]string{} // lastname → _id
			etags := map[string]string{}
			steps := []struct {
				name string
				run  func(e *portEnv, ids, etags map[string]string)
			}{
				{"home", portHome},
				{"bulk POST", portBulkPost},
				{"POST", portPost},
				{"validation", portValidation},
				{"item GET", portItemGet},
				{"queries", portQueries},
				{"pages", portPages},
				{"edits", portEdits},
				{"embedded", portEmbedded},
				{"versions", portVersions},
				{"soft delete", portSoftDelete},
				{"owners", portOwners},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) { e.t = t; s.run(e, ids, etags) })
			}
		})
	}
}

// portHome: GET / lists both resources.
func portHome(e *portEnv, _, _ map[string]string) {
	r := e.py("GET", "/api", e.alice, "")
	e.want(r, 200)
	child, _ := at(r.body, "_links", "child").([]any)
	var got []string
	for _, c := range child {
		got = append(got, fmt.Sprint(at(c, "title"), "=", at(c, "href")))
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "people=people works=works" {
		e.t.Errorf("home: %s", r.raw)
	}
}

// portBulkPost: requests.post(url, json=[…]) creates every document; the
// answer lists each one's meta fields (bandwidth saver) in order, with
// _deleted (soft_delete), and Location names the first.
func portBulkPost(e *portEnv, ids, etags map[string]string) {
	r := e.py("POST", "/api/people", e.alice, peopleBulk)
	e.want(r, 201)
	items, _ := r.body["_items"].([]any)
	if r.body["_status"] != "OK" || len(items) != 5 {
		e.t.Fatalf("bulk POST: %s", r.raw)
	}
	want := []string{"_created", "_deleted", "_etag", "_id", "_links", "_status", "_updated"}
	for i, it := range items {
		e.checkMeta(it, fmt.Sprintf("_items[%d]", i), map[string]any{"_status": "OK", "_deleted": false})
		if got := keys(it); !slices.Equal(got, want) {
			e.t.Errorf("_items[%d] keys = %v, want %v (bandwidth saver)", i, got, want)
		}
		id := fmt.Sprint(at(it, "_id"))
		if href := at(it, "_links", "self", "href"); href != "people/"+id || at(it, "_links", "self", "title") != "person" {
			e.t.Errorf("_items[%d]._links.self = %v", i, at(it, "_links", "self"))
		}
		name := []string{"Doe", "Love", "Green", "White", "Black"}[i]
		ids[name], etags[name] = id, fmt.Sprint(at(it, "_etag"))
	}
	if loc := r.header.Get("Location"); loc != "https://gh.test/api/people/"+ids["Doe"] {
		e.t.Errorf("Location = %q", loc)
	}
}

// portPost: one document; a list of one is answered as one document, as
// Eve does.
func portPost(e *portEnv, ids, etags map[string]string) {
	r := e.py("POST", "/api/people", e.alice, `{"firstname": "Ada", "lastname": "Byron", "role": ["author"], "born": "Sun, 10 Dec 1815 00:00:00 GMT"}`)
	e.want(r, 201)
	e.checkMeta(r.body, "POST", map[string]any{"_status": "OK", "_deleted": false})
	ids["Byron"], etags["Byron"] = fmt.Sprint(r.body["_id"]), fmt.Sprint(r.body["_etag"])
	if loc := r.header.Get("Location"); loc != "https://gh.test/api/people/"+ids["Byron"] {
		e.t.Errorf("Location = %q", loc)
	}
	e.checkLink(r, "self", link{"person", "people/" + ids["Byron"]})
	// A list of one document is answered as a single POST: the document's
	// meta fields, no _items.
	r = e.py("POST", "/api/people", e.alice, `[{"firstname": "Alan", "lastname": "Turing"}]`)
	e.want(r, 201)
	if _, ok := r.body["_items"]; ok || r.body["_status"] != "OK" || r.body["_id"] == nil {
		e.t.Fatalf("bulk POST of one document: %s", r.raw)
	}
	ids["Turing"], etags["Turing"] = fmt.Sprint(r.body["_id"]), fmt.Sprint(r.body["_etag"])
}

// portValidation: 422 with _issues in Cerberus' wording and Eve's _error.
func portValidation(e *portEnv, _, _ map[string]string) {
	const insertion = "Insertion failure: 1 document(s) contain(s) error(s)"
	tests := []struct {
		name, path, body string
		issues           map[string]string // path (dotted) → message
	}{
		{"required", "/api/people", `{"firstname": "Nolast"}`, map[string]string{"lastname": "required field"}},
		{"unknown field", "/api/people", `{"lastname": "Unk", "nickname": "x"}`, map[string]string{"nickname": "unknown field"}},
		{"max length", "/api/people", `{"lastname": "Long", "firstname": "Maximilianus"}`, map[string]string{"firstname": "max length is 10"}},
		{"min length", "/api/people", `{"lastname": ""}`, map[string]string{"lastname": "min length is 1"}},
		{"type", "/api/people", `{"lastname": 42}`, map[string]string{"lastname": "must be of string type"}},
		{"datetime", "/api/people", `{"lastname": "Date", "born": "yesterday"}`, map[string]string{"born": "must be of datetime type"}},
		{"list type", "/api/people", `{"lastname": "Role", "role": "author"}`, map[string]string{"role": "must be of list type"}},
		{"dict type", "/api/people", `{"lastname": "Loc", "location": "Auburn"}`, map[string]string{"location": "must be of dict type"}},
		{"nested", "/api/people", `{"lastname": "Nest", "location": {"city": 7}}`, map[string]string{"location.city": "must be of string type"}},
		// Eve's wording is "value 'Doe' is not unique".
		{"unique", "/api/people", `{"lastname": "Doe"}`, map[string]string{"lastname": "value is not unique"}},
		{"data_relation", "/api/works", `{"title": "Orphan", "owner": "0123456789abcdef01234567"}`,
			map[string]string{"owner": "value '0123456789abcdef01234567' must exist in resource 'people', field '_id'."}},
	}
	for _, tt := range tests {
		r := e.py("POST", tt.path, e.alice, tt.body)
		e.want(r, 422)
		if r.body["_status"] != "ERR" || at(r.body, "_error", "code") != float64(422) || at(r.body, "_error", "message") != insertion {
			e.t.Errorf("%s: envelope %s", tt.name, r.raw)
		}
		for p, want := range tt.issues {
			if got := at(r.body["_issues"], strings.Split(p, ".")...); got != want {
				e.t.Errorf("%s: _issues.%s = %v, want %q: %s", tt.name, p, got, want, r.raw)
			}
		}
	}
	// allowed on a list: Gatehouse names each refused item at its index;
	// Cerberus words it {"role": "unallowed values ('editor',)"}.
	r := e.py("POST", "/api/people", e.alice, `{"lastname": "Roles", "role": ["author", "editor"]}`)
	e.want(r, 422)
	if got := at(r.body, "_issues", "role", "1"); got != "unallowed value editor" {
		e.t.Errorf("allowed: %s", r.raw)
	}
	// One invalid document refuses the whole bulk: Eve's _items has the
	// issues of the invalid one and _status OK for the others.
	r = e.py("POST", "/api/people", e.alice, `[{"lastname": "Fine"}, {"firstname": "Nolast"}]`)
	e.want(r, 422)
	items, _ := r.body["_items"].([]any)
	if len(items) != 2 || at(items[0], "_status") != "OK" || at(items[1], "_status") != "ERR" ||
		at(items[1], "_issues", "lastname") != "required field" || at(r.body, "_error", "message") != insertion {
		e.t.Errorf("bulk with an invalid document: %s", r.raw)
	}
	if r := e.py("GET", "/api/people/Fine", e.alice, ""); r.status != 404 {
		e.t.Errorf("the refused bulk stored a document: %s", r.raw)
	}
}

// portItemGet: the document with its meta fields and links, ETag and
// Last-Modified; If-None-Match gives 304; additional_lookup by lastname;
// the resource's cache_control and cache_expires.
func portItemGet(e *portEnv, ids, etags map[string]string) {
	r := e.py("GET", "/api/people/"+ids["Doe"], e.alice, "")
	e.want(r, 200)
	e.checkMeta(r.body, "item", map[string]any{"_id": ids["Doe"], "_etag": etags["Doe"], "_deleted": false,
		"firstname": "John", "lastname": "Doe", "born": "Thu, 27 Aug 1970 14:37:13 GMT", "user_id": "alice"})
	if at(r.body, "location", "city") != "Auburn" || fmt.Sprint(r.body["role"]) != "[author]" {
		e.t.Errorf("item: %s", r.raw)
	}
	e.checkLink(r, "self", link{"person", "people/" + ids["Doe"]})
	e.checkLink(r, "parent", link{"home", "/"})
	e.checkLink(r, "collection", link{"people", "people"})
	if r.header.Get("ETag") != `"`+etags["Doe"]+`"` || r.header.Get("Last-Modified") != r.body["_updated"] {
		e.t.Errorf("ETag %q, Last-Modified %q", r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}
	if r.header.Get("Cache-Control") != "max-age=10,must-revalidate" {
		e.t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	if exp, err := time.Parse(time.RFC1123, r.header.Get("Expires")); err != nil || time.Until(exp) > 11*time.Second || time.Until(exp) < 0 {
		e.t.Errorf("Expires = %q", r.header.Get("Expires"))
	}
	nm := e.py("GET", "/api/people/"+ids["Doe"], e.alice, "", "If-None-Match", `"`+etags["Doe"]+`"`)
	if nm.status != 304 || nm.raw != "" {
		e.t.Errorf("If-None-Match: %d %s", nm.status, nm.raw)
	}
	lk := e.py("GET", "/api/people/Doe", e.alice, "")
	e.want(lk, 200)
	if lk.body["_id"] != ids["Doe"] || lk.body["firstname"] != "John" {
		e.t.Errorf("additional_lookup: %s", lk.raw)
	}
	e.want(e.py("GET", "/api/people/Nobody", e.alice, ""), 404)
	nf := e.py("GET", "/api/people/0123456789abcdef01234567", e.alice, "")
	e.want(nf, 404)
	if at(nf.body, "_error", "code") != float64(404) {
		e.t.Errorf("404: %s", nf.raw)
	}
}

// portQueries: where (Mongo JSON, RFC 1123 dates, Python expressions),
// sort (Python list of tuples), the resource's default sort, projection.
func portQueries(e *portEnv, ids, _ map[string]string) {
	tests := []struct {
		name, query string
		want        []string
	}{
		{"default sort", "", []string{"Black", "Byron", "Doe", "Green", "Love", "Turing", "White"}},
		{"where", params("where", `{"lastname": "Doe"}`), []string{"Doe"}},
		{"where, Python", params("where", `lastname == "Doe"`), []string{"Doe"}},
		{"where on a date", params("where", `{"born": {"$gte": "Sat, 01 Jan 1983 00:00:00 GMT"}}`, "sort", `[("born", 1)]`), []string{"Love", "Green", "White"}},
		{"where $lt on a date", params("where", `{"born": {"$lt": "Thu, 01 Jan 1970 00:00:00 GMT"}}`), []string{"Byron"}},
		{"where $in", params("where", `{"lastname": {"$in": ["Doe", "Love"]}}`), []string{"Doe", "Love"}},
		{"sort descending", params("sort", `[("lastname", -1)]`), []string{"White", "Turing", "Love", "Green", "Doe", "Byron", "Black"}},
		{"sort, Eve's string", params("sort", "-born"), []string{"White", "Green", "Love", "Black", "Doe", "Byron", "Turing"}},
	}
	for _, tt := range tests {
		r := e.py("GET", "/api/people"+tt.query, e.alice, "")
		e.want(r, 200)
		if got := lastnames(r); !slices.Equal(got, tt.want) {
			e.t.Errorf("%s (%s): %v, want %v", tt.name, tt.query, got, tt.want)
		}
		if r.header.Get("X-Total-Count") != fmt.Sprint(len(tt.want)) || fmt.Sprint(at(r.body, "_meta", "total")) != fmt.Sprint(len(tt.want)) {
			e.t.Errorf("%s: X-Total-Count %q, _meta %v", tt.name, r.header.Get("X-Total-Count"), r.body["_meta"])
		}
	}
	// The items of a list carry their self link only, as in Eve.
	r := e.py("GET", "/api/people"+params("where", `{"lastname": "Doe"}`), e.alice, "")
	it := at(r.body, "_items", "0")
	if got := keys(at(it, "_links")); !slices.Equal(got, []string{"self"}) {
		e.t.Errorf("item _links = %v", got)
	}
	// projection: inclusion keeps the meta fields; exclusion drops the field.
	r = e.py("GET", "/api/people"+params("where", `{"lastname": "Doe"}`, "projection", `{"firstname": 1}`), e.alice, "")
	e.want(r, 200)
	it = at(r.body, "_items", "0")
	if got := keys(it); !slices.Equal(got, []string{"_created", "_deleted", "_etag", "_id", "_links", "_updated", "firstname"}) {
		e.t.Errorf("projection {firstname: 1}: keys %v", got)
	}
	r = e.py("GET", "/api/people/"+ids["Doe"]+params("projection", `{"born": 0, "role": 0}`), e.alice, "")
	e.want(r, 200)
	if _, has := r.body["born"]; has || r.body["role"] != nil || r.body["lastname"] != "Doe" || r.body["_etag"] == nil {
		e.t.Errorf("projection {born: 0, role: 0}: %s", r.raw)
	}
	// Any top-level property may be projected, a dict field too.
	r = e.py("GET", "/api/people/"+ids["Doe"]+params("projection", `{"location": 0}`), e.alice, "")
	e.want(r, 200)
	if _, ok := r.body["location"]; ok || r.body["lastname"] != "Doe" {
		e.t.Errorf("projection {location: 0}: %s", r.raw)
	}
	// Bad JSON, a bad sort direction: 400. Queries name top-level fields
	// only: Eve (MongoDB) also reads a dotted field of a dict.
	for _, q := range []string{params("where", `{"lastname": `), params("sort", `[("lastname", 2)]`), params("where", `{"location.city": "Auburn"}`)} {
		r := e.py("GET", "/api/people"+q, e.alice, "")
		e.want(r, 400)
	}
}

// portPages: max_results and page, _meta, and the next, prev and last
// links that keep the query.
func portPages(e *portEnv, _, _ map[string]string) {
	sort := `[("lastname", -1)]`
	tests := []struct {
		page      string
		want      []string
		next      string
		prev      string
		last      string
		wantLinks []string
	}{
		{"1", []string{"White", "Turing", "Love"}, "2", "", "3", []string{"last", "next", "parent", "self"}},
		{"2", []string{"Green", "Doe", "Byron"}, "3", "1", "3", []string{"last", "next", "parent", "prev", "self"}},
		{"3", []string{"Black"}, "", "2", "", []string{"parent", "prev", "self"}},
	}
	for _, tt := range tests {
		r := e.py("GET", "/api/people"+params("sort", sort, "max_results", "3", "page", tt.page), e.alice, "")
		e.want(r, 200)
		if got := lastnames(r); !slices.Equal(got, tt.want) {
			e.t.Errorf("page %s: %v, want %v", tt.page, got, tt.want)
		}
		if m := r.body["_meta"]; fmt.Sprint(m) != "map[max_results:3 page:"+tt.page+" total:7]" {
			e.t.Errorf("page %s: _meta = %v", tt.page, m)
		}
		if r.header.Get("X-Total-Count") != "7" || !isRFC1123(r.header.Get("Last-Modified")) {
			e.t.Errorf("page %s: X-Total-Count %q, Last-Modified %q", tt.page, r.header.Get("X-Total-Count"), r.header.Get("Last-Modified"))
		}
		if got := keys(r.body["_links"]); !slices.Equal(got, tt.wantLinks) {
			e.t.Errorf("page %s: _links %v, want %v", tt.page, got, tt.wantLinks)
		}
		e.checkLink(r, "parent", link{"home", "/"})
		e.checkLink(r, "self", link{"people", "people" + params("max_results", "3", "sort", sort, "page", tt.page)})
		pageLink := func(p string) string {
			if p == "1" {
				return "people" + params("max_results", "3", "sort", sort)
			}
			return "people" + params("max_results", "3", "sort", sort, "page", p)
		}
		if tt.next != "" {
			e.checkLink(r, "next", link{"next page", pageLink(tt.next)})
			e.checkLink(r, "last", link{"last page", pageLink(tt.last)})
		}
		if tt.prev != "" {
			e.checkLink(r, "prev", link{"previous page", pageLink(tt.prev)})
		}
	}
	// max_results above the limit is clamped to it (50); a page past the
	// end is empty.
	r := e.py("GET", "/api/people"+params("max_results", "1000"), e.alice, "")
	if fmt.Sprint(at(r.body, "_meta", "max_results")) != "50" {
		e.t.Errorf("max_results=1000: _meta %v", r.body["_meta"])
	}
	r = e.py("GET", "/api/people"+params("page", "9"), e.alice, "")
	e.want(r, 200)
	if len(lastnames(r)) != 0 || r.header.Get("X-Total-Count") != "7" {
		e.t.Errorf("page past the end: %s", r.raw)
	}
}

// portEdits: PATCH, PUT and DELETE with If-Match; 428 without it, 412
// with a stale one.
func portEdits(e *portEnv, ids, etags map[string]string) {
	path := "/api/people/" + ids["Green"]
	const (
		msg428 = "To edit a document its etag must be provided using the If-Match header"
		msg412 = "Client and server etags don't match"
	)
	for _, m := range []struct{ method, body string }{{"PATCH", `{"firstname": "Marc"}`}, {"PUT", `{"lastname": "Green"}`}, {"DELETE", ""}} {
		r := e.py(m.method, path, e.alice, m.body)
		e.want(r, 428)
		if at(r.body, "_error", "message") != msg428 {
			e.t.Errorf("%s without If-Match: %s", m.method, r.raw)
		}
		r = e.py(m.method, path, e.alice, m.body, "If-Match", "0000000000000000")
		e.want(r, 412)
		if at(r.body, "_error", "message") != msg412 {
			e.t.Errorf("%s with a stale If-Match: %s", m.method, r.raw)
		}
	}
	r := e.py("PATCH", path, e.alice, `{"firstname": "Marc", "born": "Tue, 03 Mar 1987 09:00:00 GMT"}`, "If-Match", etags["Green"])
	e.want(r, 200)
	e.checkMeta(r.body, "PATCH", map[string]any{"_status": "OK", "_id": ids["Green"], "_deleted": false})
	if got := keys(r.body); !slices.Equal(got, []string{"_created", "_deleted", "_etag", "_id", "_links", "_status", "_updated"}) {
		e.t.Errorf("PATCH answer keys %v (bandwidth saver)", got)
	}
	if r.body["_etag"] == etags["Green"] {
		e.t.Errorf("PATCH kept the etag")
	}
	e.checkLink(r, "self", link{"person", "people/" + ids["Green"]})
	// The old etag is stale now.
	e.want(e.py("PATCH", path, e.alice, `{"firstname": "M"}`, "If-Match", etags["Green"]), 412)
	etags["Green"] = fmt.Sprint(r.body["_etag"])
	g := e.py("GET", path, e.alice, "")
	if g.body["firstname"] != "Marc" || g.body["born"] != "Tue, 03 Mar 1987 09:00:00 GMT" || fmt.Sprint(g.body["role"]) != "[contributor]" {
		e.t.Errorf("after PATCH: %s", g.raw)
	}
	// An invalid PATCH: 422 with _issues and without _error.
	r = e.py("PATCH", path, e.alice, `{"firstname": "Marcantonius"}`, "If-Match", etags["Green"])
	e.want(r, 422)
	if at(r.body, "_issues", "firstname") != "max length is 10" || r.body["_error"] != nil {
		e.t.Errorf("invalid PATCH: %s", r.raw)
	}
	// PUT replaces the document: the fields it does not send are gone.
	r = e.py("PUT", path, e.alice, `{"firstname": "Mark", "lastname": "Green"}`, "If-Match", etags["Green"])
	e.want(r, 200)
	e.checkMeta(r.body, "PUT", map[string]any{"_status": "OK", "_id": ids["Green"]})
	etags["Green"] = fmt.Sprint(r.body["_etag"])
	g = e.py("GET", path, e.alice, "")
	if _, has := g.body["role"]; has || g.body["firstname"] != "Mark" || g.body["user_id"] != "alice" {
		e.t.Errorf("after PUT: %s", g.raw)
	}
	if r.header.Get("Last-Modified") == "" {
		e.t.Errorf("PUT: no Last-Modified")
	}
}

// portEmbedded: works refer to people; ?embedded={"owner":1} puts the
// person in place of the reference.
func portEmbedded(e *portEnv, ids, etags map[string]string) {
	body := fmt.Sprintf(`[{"title": "Book", "description": "A first book", "owner": "%s"}, {"title": "Article", "owner": "%s"}, {"title": "Poem", "owner": "%s"}]`,
		ids["Doe"], ids["Doe"], ids["Love"])
	r := e.py("POST", "/api/works", e.alice, body)
	e.want(r, 201)
	items, _ := r.body["_items"].([]any)
	if len(items) != 3 {
		e.t.Fatalf("works: %s", r.raw)
	}
	for i, it := range items {
		e.checkMeta(it, "work", map[string]any{"_status": "OK", "_version": 1, "_latest_version": 1})
		etags["work"+fmt.Sprint(i)] = fmt.Sprint(at(it, "_etag"))
		ids["work"+fmt.Sprint(i)] = fmt.Sprint(at(it, "_id"))
	}
	// works' default sort is by title.
	r = e.py("GET", "/api/works"+params("embedded", `{"owner": 1}`), e.alice, "")
	e.want(r, 200)
	var got []string
	for _, it := range r.body["_items"].([]any) {
		got = append(got, fmt.Sprint(at(it, "title"), "/", at(it, "owner", "lastname")))
	}
	if strings.Join(got, " ") != "Article/Doe Book/Doe Poem/Love" {
		e.t.Errorf("embedded list: %v", got)
	}
	owner := at(r.body, "_items", "0", "owner")
	e.checkMeta(owner, "embedded owner", map[string]any{"_id": ids["Doe"], "firstname": "John"})
	if at(owner, "_links", "self", "href") != "people/"+ids["Doe"] {
		e.t.Errorf("embedded owner links: %v", at(owner, "_links"))
	}
	r = e.py("GET", "/api/works/"+ids["work0"]+params("embedded", `{"owner": 1}`), e.alice, "")
	e.want(r, 200)
	if at(r.body, "owner", "lastname") != "Doe" {
		e.t.Errorf("embedded item: %s", r.raw)
	}
	r = e.py("GET", "/api/works/"+ids["work0"], e.alice, "")
	if r.body["owner"] != ids["Doe"] {
		e.t.Errorf("without embedded: owner = %v", r.body["owner"])
	}
	// Only data_relation fields embed.
	r = e.py("GET", "/api/works"+params("embedded", `{"title": 1}`), e.alice, "")
	e.want(r, 400)
}

// portVersions: works are versioned: ?version=N, all and diffs.
func portVersions(e *portEnv, ids, etags map[string]string) {
	path := "/api/works/" + ids["work0"]
	r := e.py("PATCH", path, e.alice, `{"title": "Book, 2nd edition"}`, "If-Match", etags["work0"])
	e.want(r, 200)
	e.checkMeta(r.body, "PATCH", map[string]any{"_version": 2, "_latest_version": 2})
	r = e.py("PUT", path, e.alice, fmt.Sprintf(`{"title": "Book, 3rd edition", "owner": "%s"}`, ids["Love"]), "If-Match", fmt.Sprint(r.body["_etag"]))
	e.want(r, 200)
	etags["work0"] = fmt.Sprint(r.body["_etag"])
	tests := []struct {
		query string
		want  map[string]any
	}{
		{"", map[string]any{"title": "Book, 3rd edition", "_version": 3, "_latest_version": 3}},
		{params("version", "1"), map[string]any{"title": "Book", "description": "A first book", "owner": ids["Doe"], "_version": 1, "_latest_version": 3}},
		{params("version", "2"), map[string]any{"title": "Book, 2nd edition", "_version": 2, "_latest_version": 3}},
	}
	for _, tt := range tests {
		r := e.py("GET", path+tt.query, e.alice, "")
		e.want(r, 200)
		e.checkMeta(r.body, "version "+tt.query, tt.want)
	}
	r = e.py("GET", path+params("version", "4"), e.alice, "")
	e.want(r, 404)
	r = e.py("GET", path+params("version", "0"), e.alice, "")
	e.want(r, 400)
	if at(r.body, "_error", "message") != "Document version number should be an int greater than 0" {
		e.t.Errorf("?version=0: %s", r.raw)
	}
	all := e.py("GET", path+params("version", "all"), e.alice, "")
	e.want(all, 200)
	var titles []string
	for _, it := range all.body["_items"].([]any) {
		titles = append(titles, fmt.Sprint(at(it, "_version"), ":", at(it, "title")))
	}
	if strings.Join(titles, "|") != "1:Book|2:Book, 2nd edition|3:Book, 3rd edition" ||
		fmt.Sprint(all.body["_meta"]) != "map[max_results:25 page:1 total:3]" || all.header.Get("X-Total-Count") != "3" {
		e.t.Errorf("?version=all: %v %v", titles, all.body["_meta"])
	}
	diffs := e.py("GET", path+params("version", "diffs"), e.alice, "")
	e.want(diffs, 200)
	items, _ := diffs.body["_items"].([]any)
	if len(items) != 3 {
		e.t.Fatalf("?version=diffs: %s", diffs.raw)
	}
	// The first version whole; then what changed, with the meta fields.
	if at(items[0], "description") != "A first book" || at(items[0], "owner") != ids["Doe"] {
		e.t.Errorf("diffs[0]: %v", items[0])
	}
	if at(items[1], "title") != "Book, 2nd edition" || at(items[1], "owner") != nil || at(items[1], "_version") != float64(2) {
		e.t.Errorf("diffs[1]: %v", items[1])
	}
	// The PUT removed description (a diff does not show removals, as Eve)
	// and changed the owner.
	if at(items[2], "title") != "Book, 3rd edition" || at(items[2], "owner") != ids["Love"] {
		e.t.Errorf("diffs[2]: %v", items[2])
	}
}

// portSoftDelete: DELETE of a person marks it _deleted; lists and totals
// skip it, ?show_deleted lists it, an item GET is a 404 with the document.
func portSoftDelete(e *portEnv, ids, etags map[string]string) {
	path := "/api/people/" + ids["White"]
	r := e.py("DELETE", path, e.alice, "", "If-Match", etags["White"])
	if r.status != 204 || r.raw != "" {
		e.t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	r = e.py("GET", path, e.alice, "")
	e.want(r, 404)
	if r.body["_deleted"] != true || r.body["lastname"] != "White" || at(r.body, "_error", "code") != float64(404) ||
		at(r.body, "_error", "message") != "The requested URL was not found on this server." {
		e.t.Errorf("GET of a deleted document: %s", r.raw)
	}
	list := e.py("GET", "/api/people", e.alice, "")
	if slices.Contains(lastnames(list), "White") || list.header.Get("X-Total-Count") != "6" {
		e.t.Errorf("list after DELETE: %v, total %s", lastnames(list), list.header.Get("X-Total-Count"))
	}
	shown := e.py("GET", "/api/people"+params("show_deleted", "true", "where", `{"lastname": "White"}`), e.alice, "")
	e.want(shown, 200)
	if got := lastnames(shown); !slices.Equal(got, []string{"White"}) || at(shown.body, "_items", "0", "_deleted") != true {
		e.t.Errorf("?show_deleted: %s", shown.raw)
	}
	// A deleted document cannot be patched or deleted again; a lookup by
	// lastname does not find it; its lastname is free again.
	e.want(e.py("PATCH", path, e.alice, `{"firstname": "A"}`, "If-Match", fmt.Sprint(r.body["_etag"])), 404)
	e.want(e.py("DELETE", path, e.alice, "", "If-Match", fmt.Sprint(r.body["_etag"])), 404)
	e.want(e.py("GET", "/api/people/White", e.alice, ""), 404)
	// A PUT restores it.
	r = e.py("PUT", path, e.alice, `{"firstname": "Anne", "lastname": "White"}`, "If-Match", fmt.Sprint(r.body["_etag"]))
	e.want(r, 200)
	if r.body["_deleted"] != false {
		e.t.Errorf("PUT of a deleted document: %s", r.raw)
	}
	e.want(e.py("GET", "/api/people/White", e.alice, ""), 200)
	// works are not soft deleted: a DELETE removes the work and its
	// versions.
	wpath := "/api/works/" + ids["work2"]
	e.want(e.py("DELETE", wpath, e.alice, "", "If-Match", etags["work2"]), 204)
	if r := e.py("GET", wpath, e.alice, ""); r.status != 404 || r.body["_deleted"] != nil {
		e.t.Errorf("GET of a deleted work: %s", r.raw)
	}
	e.want(e.py("GET", wpath+params("version", "1"), e.alice, ""), 404)
}

// portOwners: auth_field: bob neither sees alice's people nor writes,
// references or embeds them; he has his own Doe.
func portOwners(e *portEnv, ids, etags map[string]string) {
	r := e.py("GET", "/api/people", e.bob, "")
	e.want(r, 200)
	if len(lastnames(r)) != 0 || r.header.Get("X-Total-Count") != "0" || fmt.Sprint(r.body["_meta"]) != "map[max_results:25 page:1 total:0]" {
		e.t.Errorf("bob's list: %s", r.raw)
	}
	e.want(e.py("GET", "/api/people/"+ids["Doe"], e.bob, ""), 404)
	e.want(e.py("GET", "/api/people/Doe", e.bob, ""), 404)
	e.want(e.py("PATCH", "/api/people/"+ids["Doe"], e.bob, `{"firstname": "X"}`, "If-Match", etags["Doe"]), 404)
	e.want(e.py("DELETE", "/api/people/"+ids["Doe"], e.bob, "", "If-Match", etags["Doe"]), 404)
	e.want(e.py("GET", "/api/works/"+ids["work0"], e.bob, ""), 404)
	e.want(e.py("GET", "/api/works/"+ids["work0"]+params("version", "all"), e.bob, ""), 404)
	// Bob's work cannot refer to alice's person.
	r = e.py("POST", "/api/works", e.bob, fmt.Sprintf(`{"title": "Stolen", "owner": "%s"}`, ids["Doe"]))
	e.want(r, 422)
	if want := "value '" + ids["Doe"] + "' must exist in resource 'people', field '_id'."; at(r.body, "_issues", "owner") != want {
		e.t.Errorf("bob's reference to alice's person: %s", r.raw)
	}
	// Lastnames are unique per owner: bob has his own Doe, his lookup
	// finds it.
	r = e.py("POST", "/api/people", e.bob, `{"firstname": "Jane", "lastname": "Doe"}`)
	e.want(r, 201)
	bobsDoe := fmt.Sprint(r.body["_id"])
	if r := e.py("GET", "/api/people/Doe", e.bob, ""); r.body["_id"] != bobsDoe {
		e.t.Errorf("bob's lookup: %s", r.raw)
	}
	if r := e.py("GET", "/api/people/Doe", e.alice, ""); r.body["_id"] != ids["Doe"] {
		e.t.Errorf("alice's lookup: %s", r.raw)
	}
	// A work of bob's that names alice's person (written before the
	// rule, straight into the store) does not embed it.
	now := time.Now()
	foreign := docstore.Document{ID: docstore.NewID(), Owner: "bob", Created: now, Updated: now, ETag: docstore.NewETag(),
		Data: json.RawMessage(`{"title": "Foreign", "owner": "` + ids["Doe"] + `"}`)}
	if err := e.store.Insert(context.Background(), "works", []docstore.Document{foreign}); err != nil {
		e.t.Fatal(err)
	}
	r = e.py("GET", "/api/works"+params("embedded", `{"owner": 1}`), e.bob, "")
	e.want(r, 200)
	if at(r.body, "_items", "0", "owner") != ids["Doe"] || strings.Contains(r.raw, `"John"`) || len(r.body["_items"].([]any)) != 1 {
		e.t.Errorf("bob embeds alice's person: %s", r.raw)
	}
	r = e.py("GET", "/api/works/"+foreign.ID+params("embedded", `{"owner": 1}`), e.bob, "")
	e.want(r, 200)
	if r.body["owner"] != ids["Doe"] {
		e.t.Errorf("bob embeds alice's person (item): %s", r.raw)
	}
	// Alice's lists are unchanged by bob's documents.
	if r := e.py("GET", "/api/people"+params("where", `{"lastname": "Doe"}`), e.alice, ""); r.header.Get("X-Total-Count") != "1" {
		e.t.Errorf("alice sees bob's Doe: %s", r.raw)
	}
	// Without a token: 401 in Eve's envelope.
	e.want(e.py("GET", "/api/people", "", ""), 401)
}
