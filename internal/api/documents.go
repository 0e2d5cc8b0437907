package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// maxBulk bounds the documents of one bulk POST.
const maxBulk = 1000

// handler serves one request on one resource for one owner.
type handler struct {
	s     *Server
	res   *resource.Resource
	owner string
	// principal is the caller the query limits count by; release gives
	// back its turn once the request has taken one (querylimits.go).
	principal string
	release   func()
}

// httpDate is Eve's date format (RFC 1123 with GMT).
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func (h *handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, msgNotFound)
	case errors.Is(err, storage.ErrPreconditionFailed):
		writeError(w, http.StatusPreconditionFailed, msgStaleETag)
	case errors.Is(err, storage.ErrAlreadyExists):
		issues := map[string]string{}
		for _, u := range h.res.Unique {
			issues[u] = "value is not unique"
		}
		writeIssues(w, issues, nil)
	case errors.Is(err, docstore.ErrTooManyElements):
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
			"A document's array fields hold at most %d distinct items in all", docstore.MaxElements))
	case errors.Is(err, docquery.ErrTooComplex):
		// The filter's form was accepted, but the store bounds its cost.
		writeError(w, http.StatusBadRequest, "The where is too complex: it needs too many look-ups of array fields; combine values of one field with $in or $nin")
	case errors.Is(err, errBusy):
		// RFC 6585 §4: the caller's own requests are too many at once.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"Too many requests at once: at most %d of a client's requests query the database at a time", h.s.limits.Concurrency))
	case errors.Is(err, errQueryTimeout):
		// The client's query (or the database's load): not a fault of
		// the server, so a warning.
		h.s.cfg.Logger.WarnContext(r.Context(), "api: query took too long", "resource", h.res.Name,
			"method", r.Method, "budget", h.s.limits.Timeout, "err", err)
		msg := fmt.Sprintf("The query took too long (more than %s): try again later", h.s.limits.Timeout)
		if r.URL.Query().Get("where") != "" {
			msg = fmt.Sprintf("The query took too long (more than %s): narrow the where, or try again later", h.s.limits.Timeout)
		}
		writeError(w, http.StatusServiceUnavailable, msg)
	case errors.Is(err, errClientGone):
		// Nobody reads the answer; the log says why the query stopped.
		h.s.cfg.Logger.InfoContext(r.Context(), "api: query cancelled: the client went away", "resource", h.res.Name)
		writeError(w, http.StatusServiceUnavailable, "The request was cancelled")
	default:
		h.s.cfg.Logger.ErrorContext(r.Context(), "api: store", "resource", h.res.Name, "err", err)
		if errors.Is(err, storage.ErrUnavailable) {
			writeError(w, http.StatusServiceUnavailable, "The database is unavailable")
			return
		}
		writeError(w, http.StatusInternalServerError, "Internal server error")
	}
}

// meta renders a document with its meta fields.
func (h *handler) render(d docstore.Document, p query.Projection, full bool) (map[string]any, error) {
	// Field values stay raw JSON: written back as stored, without being
	// decoded into Go values and encoded again (a quarter of a list
	// request's CPU, issue 7), and numbers keep their exact digits.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(d.Data, &fields); err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ID, err)
	}
	out := map[string]any{}
	for k, v := range fields {
		if p.Keep(k) {
			out[k] = v
		}
	}
	if h.res.OwnerField != "" && p.Keep(h.res.OwnerField) {
		out[h.res.OwnerField] = d.Owner
	}
	out["_id"] = d.ID
	out["_created"] = httpDate(d.Created)
	out["_updated"] = httpDate(d.Updated)
	out["_etag"] = d.ETag
	links := map[string]any{"self": map[string]string{"href": h.res.URL + "/" + d.ID, "title": h.res.ItemTitle}}
	if full {
		links["parent"] = map[string]string{"href": "/", "title": "home"}
		links["collection"] = map[string]string{"href": h.res.URL, "title": h.res.Name}
	}
	out["_links"] = links
	return out, nil
}

func badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, err.Error())
}

// parseQuery parses the query string, refusing one that does not parse
// (r.URL.Query would silently drop the malformed pairs, such as ones with a
// ';' or a bad escape).
func parseQuery(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "The query string is malformed")
		return nil, false
	}
	return q, true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q, ok := parseQuery(w, r)
	if !ok {
		return
	}
	for _, p := range []string{"where", "sort", "projection", "max_results", "page"} {
		if len(q[p]) > 1 {
			writeError(w, http.StatusBadRequest, p+" given more than once")
			return
		}
	}
	filter, err := query.ParseWhere(q.Get("where"), h.res)
	if err != nil {
		badRequest(w, err)
		return
	}
	sortSpec := q.Get("sort")
	if sortSpec == "" {
		sortSpec = h.res.DefaultSort
	}
	sortKeys, err := query.ParseSort(sortSpec, h.res)
	if err != nil {
		badRequest(w, err)
		return
	}
	proj, err := query.ParseProjection(q.Get("projection"), h.res, h.res.OwnerField)
	if err != nil {
		badRequest(w, err)
		return
	}
	maxResults := h.res.Pagination.Default
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "max_results must be a positive integer")
			return
		}
		// Eve clamps max_results to PAGINATION_LIMIT silently.
		maxResults = min(n, h.res.Pagination.Limit)
	}
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			writeError(w, http.StatusBadRequest, "page must be a positive integer")
			return
		}
		page = n
	}
	ctx := r.Context()
	offset := (page - 1) * maxResults
	docs, err := run(ctx, h, func(ctx context.Context) ([]docstore.Document, error) {
		return h.s.cfg.Store.Find(ctx, h.res.Name, h.owner, docquery.Query{
			Filter: filter, Sort: sortKeys, Limit: maxResults, Offset: offset,
		})
	})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	// A page with some documents but not full is the last one: the total
	// is known without counting every match (for most lists, which fit in
	// one page, the count is the costlier query). A full page, or an empty
	// one past the first, needs the count.
	total := offset + len(docs)
	if len(docs) == maxResults || (len(docs) == 0 && page > 1) {
		if total, err = h.count(r, q.Get("where"), filter); err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	// The store is done with: the turn goes back before the answer is
	// written, so that a slow reader does not hold it.
	h.done()
	items := []map[string]any{}
	for _, d := range docs {
		it, err := h.render(d, proj, false)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		items = append(items, it)
	}
	link := func(p int, title string) map[string]string {
		v := url.Values{}
		for k, vals := range q {
			if k != "page" {
				v[k] = vals
			}
		}
		v.Set("max_results", strconv.Itoa(maxResults))
		v.Set("page", strconv.Itoa(p))
		return map[string]string{"href": h.res.URL + "?" + v.Encode(), "title": title}
	}
	last := max(1, (total+maxResults-1)/maxResults)
	links := map[string]any{
		"self":   map[string]string{"href": h.res.URL, "title": h.res.Name},
		"parent": map[string]string{"href": "/", "title": "home"},
	}
	if page < last {
		links["next"] = link(page+1, "next page")
		links["last"] = link(last, "last page")
	}
	if page > 1 {
		links["prev"] = link(page-1, "previous page")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"_items": items,
		"_meta":  map[string]any{"page": page, "max_results": maxResults, "total": total},
		"_links": links,
	})
}

// count returns the number of the owner's documents matching filter (the
// parsed where), from the cache of recent totals when it has it, or from
// a count of it already in progress (countCache.total).
func (h *handler) count(r *http.Request, where string, filter docquery.Expr) (int, error) {
	k := countKey{resource: h.res.Name, owner: h.owner, where: where}
	now := h.s.cfg.Now()
	if total, ok, _ := h.s.counts.get(k, now); ok {
		return total, nil
	}
	return run(r.Context(), h, func(ctx context.Context) (int, error) {
		return h.s.counts.total(ctx, k, now, func() (int, error) {
			return h.s.cfg.Store.Count(ctx, h.res.Name, h.owner, filter)
		})
	})
}

// readBody checks the content type and size and decodes JSON.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) (any, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeError(w, http.StatusUnsupportedMediaType, "The request body must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.s.cfg.Resources.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", mbe.Limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "Cannot read the request body")
		return nil, false
	}
	// RFC 8259 §8.1: JSON text is UTF-8. encoding/json would replace invalid
	// bytes with U+FFFD and store the altered text.
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, "The request body is not valid UTF-8")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		writeError(w, http.StatusBadRequest, "The request body is not valid JSON: "+err.Error())
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "The request body is not valid JSON: trailing data")
		return nil, false
	}
	return v, true
}

var metaFields = []string{"_id", "_created", "_updated", "_etag", "_links", "_status"}

// prepare checks one document from the client and returns its stored form,
// or the issues found. Meta fields the client echoes back are ignored; the
// owner field cannot be set (only echoed with the caller's own value).
func (h *handler) prepare(doc map[string]any, withDefaults bool) (map[string]any, map[string]string) {
	issues := map[string]string{}
	out := map[string]any{}
	for k, v := range doc {
		switch {
		case slices.Contains(metaFields, k):
		case h.res.OwnerField != "" && k == h.res.OwnerField:
			if s, _ := v.(string); s != h.owner {
				issues[k] = "field is read-only"
			}
		default:
			out[k] = v
		}
	}
	if withDefaults {
		for k, v := range h.res.Defaults {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	if err := h.res.Schema.Validate(any(out)); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			collectIssues(ve, issues)
		} else {
			issues["_schema"] = err.Error()
		}
	}
	if len(issues) > 0 {
		return nil, issues
	}
	// Date-times are stored in UTC with fixed precision so that they sort
	// and compare as times on every database.
	for _, f := range h.res.Fields {
		if s, ok := out[f.Name].(string); ok && f.Type == docquery.DateTime {
			if t, err := query.ParseTime(s); err == nil {
				out[f.Name] = docquery.NormalizeTime(t)
			}
		}
	}
	return out, nil
}

var printer = message.NewPrinter(language.English)

// collectIssues turns validation errors into Eve's {"field": "message"}.
func collectIssues(ve *jsonschema.ValidationError, issues map[string]string) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectIssues(c, issues)
		}
		return
	}
	field := strings.Join(ve.InstanceLocation, ".")
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			issues[join(field, m)] = "required field"
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			issues[join(field, p)] = "unknown field"
		}
		return
	}
	if field == "" {
		field = "_schema"
	}
	if _, ok := issues[field]; !ok {
		issues[field] = ve.ErrorKind.LocalizedString(printer)
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var raw []any
	bulk := false
	switch v := body.(type) {
	case map[string]any:
		raw = []any{v}
	case []any:
		bulk = true
		raw = v
		if len(raw) == 0 {
			writeError(w, http.StatusBadRequest, "The request body is an empty list")
			return
		}
		if len(raw) > maxBulk {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("At most %d documents per request", maxBulk))
			return
		}
	default:
		writeError(w, http.StatusBadRequest, "The request body must be a JSON object or a list of objects")
		return
	}
	now := h.s.cfg.Now().UTC().Truncate(time.Second)
	docs := make([]docstore.Document, 0, len(raw))
	results := make([]map[string]any, 0, len(raw))
	failed := false
	var firstIssues map[string]string
	for _, item := range raw {
		obj, ok := item.(map[string]any)
		if !ok {
			failed = true
			results = append(results, map[string]any{"_status": "ERR", "_issues": map[string]string{"_schema": "not a JSON object"}})
			continue
		}
		clean, issues := h.prepare(obj, true)
		if issues != nil {
			failed = true
			if firstIssues == nil {
				firstIssues = issues
			}
			results = append(results, map[string]any{"_status": "ERR", "_issues": issues})
			continue
		}
		data, err := json.Marshal(clean)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Cannot encode the document")
			return
		}
		d := docstore.Document{ID: docstore.NewID(), Owner: h.owner, Created: now, Updated: now, ETag: docstore.NewETag(), Data: data}
		docs = append(docs, d)
		results = append(results, map[string]any{"_status": "OK"})
	}
	if failed {
		// One invalid document rejects the whole batch (Eve's bulk insert).
		if bulk {
			writeIssues(w, nil, results)
		} else {
			writeIssues(w, firstIssues, nil)
		}
		return
	}
	err := exec(r.Context(), h, func(ctx context.Context) error { return h.s.cfg.Store.Insert(ctx, h.res.Name, docs) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	for i, d := range docs {
		results[i] = map[string]any{
			"_status": "OK", "_id": d.ID, "_etag": d.ETag,
			"_created": httpDate(d.Created), "_updated": httpDate(d.Updated),
			"_links": map[string]any{"self": map[string]string{"href": h.res.URL + "/" + d.ID, "title": h.res.ItemTitle}},
		}
	}
	w.Header().Set("Location", h.s.cfg.PublicURL+Prefix+"/"+h.res.URL+"/"+docs[0].ID)
	if bulk {
		writeJSON(w, http.StatusCreated, map[string]any{"_status": "OK", "_items": results})
		return
	}
	writeJSON(w, http.StatusCreated, results[0])
}

func quoteETag(e string) string { return `"` + e + `"` }

// etagMatches compares an If-Match / If-None-Match header with an entity
// tag (RFC 9110 §13.1.1; weak tags compare by their opaque part, as Eve).
func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" {
			return true
		}
		part = strings.TrimPrefix(part, "W/")
		if strings.Trim(part, `"`) == etag {
			return true
		}
	}
	return false
}

// getDoc reads one of the owner's documents.
func (h *handler) getDoc(ctx context.Context, id string) (docstore.Document, error) {
	return run(ctx, h, func(ctx context.Context) (docstore.Document, error) {
		return h.s.cfg.Store.Get(ctx, h.res.Name, h.owner, id)
	})
}

func (h *handler) get(w http.ResponseWriter, r *http.Request, id string) {
	d, err := h.getDoc(r.Context(), id)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	q, ok := parseQuery(w, r)
	if !ok {
		return
	}
	if len(q["projection"]) > 1 {
		writeError(w, http.StatusBadRequest, "projection given more than once")
		return
	}
	proj, err := query.ParseProjection(q.Get("projection"), h.res, h.res.OwnerField)
	if err != nil {
		badRequest(w, err)
		return
	}
	w.Header().Set("ETag", quoteETag(d.ETag))
	w.Header().Set("Last-Modified", httpDate(d.Updated))
	// RFC 9110 §13.1.2: If-None-Match takes precedence over If-Modified-Since.
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, d.ETag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !d.Updated.Truncate(time.Second).After(t) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.done() // as in list
	out, err := h.render(d, proj, true)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// ifMatch returns the entity tag of If-Match, answering 428 without one
// (Eve's IF_MATCH; RFC 6585 §3).
func ifMatch(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		writeError(w, http.StatusPreconditionRequired, msgNoIfMatch)
		return "", false
	}
	return strings.Trim(strings.TrimPrefix(v, "W/"), `"`), true
}

func (h *handler) update(w http.ResponseWriter, r *http.Request, id string, patch bool) {
	etag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	obj, ok := body.(map[string]any)
	if !ok {
		writeError(w, http.StatusBadRequest, "The request body must be a JSON object")
		return
	}
	ctx := r.Context()
	cur, err := h.getDoc(ctx, id)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if etag != cur.ETag && etag != "*" {
		writeError(w, http.StatusPreconditionFailed, msgStaleETag)
		return
	}
	doc := obj
	if patch {
		var old map[string]any
		dec := json.NewDecoder(bytes.NewReader(cur.Data))
		dec.UseNumber()
		if err := dec.Decode(&old); err != nil {
			h.storeError(w, r, err)
			return
		}
		for k, v := range obj {
			old[k] = v
		}
		doc = old
	}
	clean, issues := h.prepare(doc, !patch)
	if issues != nil {
		writeIssues(w, issues, nil)
		return
	}
	data, err := json.Marshal(clean)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Cannot encode the document")
		return
	}
	now := h.s.cfg.Now().UTC().Truncate(time.Second)
	next := docstore.Document{ID: cur.ID, Owner: h.owner, Created: cur.Created, Updated: now, ETag: docstore.NewETag(), Data: data}
	// The swap compares with the stored tag, so a concurrent writer between
	// Get and Replace makes this a 412.
	err = exec(ctx, h, func(ctx context.Context) error { return h.s.cfg.Store.Replace(ctx, h.res.Name, next, cur.ETag) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("ETag", quoteETag(next.ETag))
	writeJSON(w, http.StatusOK, map[string]any{
		"_status": "OK", "_id": next.ID, "_etag": next.ETag,
		"_created": httpDate(next.Created), "_updated": httpDate(next.Updated),
		"_links": map[string]any{"self": map[string]string{"href": h.res.URL + "/" + next.ID, "title": h.res.ItemTitle}},
	})
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request, id string) {
	etag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	if etag == "*" {
		d, err := h.getDoc(r.Context(), id)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		etag = d.ETag
	}
	err := exec(r.Context(), h, func(ctx context.Context) error { return h.s.cfg.Store.Delete(ctx, h.res.Name, h.owner, id, etag) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
