package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
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

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// maxBulk bounds the documents of one bulk POST.
const maxBulk = 1000

// maxPage bounds the page parameter, so that an offset stays reasonable.
const maxPage = 1_000_000

// handler serves one request on one resource for one owner.
type handler struct {
	s     *Server
	res   *resource.Resource
	owner string
	// claims are the caller's token's; nil for a public method.
	claims *bearer.Claims
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
		is := issues{}
		for _, u := range h.res.Unique {
			is[u] = "value is not unique"
		}
		writeIssues(w, is, nil)
	case errors.Is(err, docstore.ErrTooManyElements):
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
			"A document's array fields hold at most %d distinct items in all", docstore.MaxElements))
	case errors.Is(err, errTooManyReferences):
		status := http.StatusUnprocessableEntity // a write's documents
		if r.Method == http.MethodGet {
			status = http.StatusBadRequest // a page to embed into
		}
		writeError(w, status, fmt.Sprintf(
			"A request refers to at most %d documents through one relation: send fewer documents, or ask for a smaller page (max_results)", maxReferences))
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

// render renders a document with its meta fields.
func (h *handler) render(d docstore.Document, p query.Projection, full bool) (map[string]any, error) {
	// Field values stay raw JSON: written back as stored, without being
	// decoded into Go values and encoded again (which dominated a list
	// request's CPU, see docs/performance.md), and numbers keep their exact
	// digits.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(d.Data, &fields); err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ID, err)
	}
	out := map[string]any{}
	for k, v := range fields {
		if p.Keep(k) && h.keep(k) {
			out[k] = v
		}
	}
	for _, f := range h.res.Fields {
		if v, ok := out[f.Name].(json.RawMessage); ok && f.Type == docquery.DateTime {
			out[f.Name] = h.s.renderDate(v)
		}
	}
	if h.res.OwnerField != "" && p.Keep(h.res.OwnerField) && h.keep(h.res.OwnerField) {
		out[h.res.OwnerField] = d.Owner
	}
	out["_id"] = d.ID
	out["_created"] = h.s.formatDate(d.Created)
	out["_updated"] = h.s.formatDate(d.Updated)
	out["_etag"] = d.ETag
	h.stateFields(out, d)
	links := map[string]any{"self": map[string]string{"href": h.res.URL + "/" + d.ID, "title": h.res.ItemTitle}}
	if full {
		links["parent"] = map[string]string{"href": "/", "title": "home"}
		links["collection"] = map[string]string{"href": h.res.URL, "title": h.res.Title()}
	}
	h.setLinks(out, links)
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

// givenOnce reports whether each of the parameters named appears at most
// once in q, answering 400 for the first that does not.
func givenOnce(w http.ResponseWriter, q url.Values, params ...string) bool {
	for _, p := range params {
		if len(q[p]) > 1 {
			writeError(w, http.StatusBadRequest, p+" given more than once")
			return false
		}
	}
	return true
}

// paging reads max_results and page from q as Eve does: a value that is
// not a positive integer gets the default, and max_results is clamped to
// PAGINATION_LIMIT. A page past maxPage is answered 400 (ok false).
func (h *handler) paging(w http.ResponseWriter, q url.Values) (maxResults, page int, ok bool) {
	maxResults = h.res.Pagination.Default
	if n, err := strconv.Atoi(q.Get("max_results")); err == nil && n >= 1 {
		maxResults = min(n, h.res.Pagination.Limit)
	}
	page = 1
	n, err := strconv.Atoi(q.Get("page"))
	if n > maxPage || (errors.Is(err, strconv.ErrRange) && n > 0) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("page must be at most %d", maxPage))
		return 0, 0, false
	}
	if err == nil && n >= 1 {
		page = n
	}
	return maxResults, page, true
}

// pageLink is the HATEOAS link to page p of the list at base: the request's
// parameters q but page, with max_results and page set.
func pageLink(base string, q url.Values, maxResults, p int, title string) map[string]string {
	v := url.Values{}
	for k, vals := range q {
		if k != "page" {
			v[k] = vals
		}
	}
	v.Set("max_results", strconv.Itoa(maxResults))
	v.Set("page", strconv.Itoa(p))
	return map[string]string{"href": base + "?" + v.Encode(), "title": title}
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q, ok := parseQuery(w, r)
	if !ok {
		return
	}
	if !givenOnce(w, q, "where", "sort", "projection", "max_results", "page", "embedded") {
		return
	}
	filter, err := query.ParseWhere(q.Get("where"), h.res)
	if err != nil {
		badRequest(w, err)
		return
	}
	filter = h.readFilter(filter)
	sortSpec := q.Get("sort")
	if sortSpec == "" {
		sortSpec = h.res.DefaultSort
	}
	sortKeys, err := query.ParseSort(sortSpec, h.res)
	if err != nil {
		badRequest(w, err)
		return
	}
	proj, err := query.ParseProjection(q.Get("projection"), h.res, append(h.res.Properties(), h.res.OwnerField)...)
	if err != nil {
		badRequest(w, err)
		return
	}
	rels, ok := h.parseEmbedded(w, r, q.Get("embedded"))
	if !ok {
		return
	}
	maxResults, page, ok := h.paging(w, q)
	if !ok {
		return
	}
	if h.res.NoPagination {
		maxResults, page = maxUnpaginated, 1
	}
	ctx := r.Context()
	offset := (page - 1) * maxResults
	withDeleted := h.showDeleted(q)
	docs, err := run(ctx, h, func(ctx context.Context) ([]docstore.Document, error) {
		return h.find(ctx, docquery.Query{
			Filter: filter, Sort: sortKeys, Limit: maxResults, Offset: offset,
		}, withDeleted)
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
		if total, err = h.count(r, q.Get("where"), filter, withDeleted); err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	emb, err := h.lookupEmbedded(ctx, rels, docs)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	// The store is done with: the turn goes back before the answer is
	// written, so that a slow reader does not hold it.
	h.done()
	items := []map[string]any{}
	var newest time.Time
	for _, d := range docs {
		it, err := h.render(d, proj, false)
		if err == nil {
			err = emb.apply(it, d)
		}
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		items = append(items, it)
		if d.Updated.After(newest) {
			newest = d.Updated
		}
	}
	link := func(p int, title string) map[string]string { return pageLink(h.res.URL, q, maxResults, p, title) }
	last := max(1, (total+maxResults-1)/maxResults)
	self := h.res.URL
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery // Eve's self link repeats the query
	}
	links := map[string]any{
		"self":   map[string]string{"href": self, "title": h.res.Title()},
		"parent": map[string]string{"href": "/", "title": "home"},
	}
	if page < last && !h.res.NoPagination {
		links["next"] = link(page+1, "next page")
		links["last"] = link(last, "last page")
	}
	if page > 1 {
		links["prev"] = link(page-1, "previous page")
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	if len(docs) > 0 {
		w.Header().Set("Last-Modified", httpDate(newest))
	}
	h.setCache(w)
	body := map[string]any{"_items": items}
	if !h.res.NoPagination {
		body["_meta"] = map[string]any{"page": page, "max_results": maxResults, "total": total}
	}
	h.setLinks(body, links)
	writeJSON(w, http.StatusOK, body)
}

// count returns the number of the owner's documents matching filter (the
// parsed where), from the cache of recent totals when it has it, or from
// a count of it already in progress (countCache.total).
func (h *handler) count(r *http.Request, where string, filter docquery.Expr, withDeleted bool) (int, error) {
	k := countKey{resource: h.res.Name, owner: h.owner, where: countWhere(where, withDeleted)}
	now := h.s.cfg.Now()
	if total, ok, _ := h.s.counts.get(k, now); ok {
		return total, nil
	}
	return run(r.Context(), h, func(ctx context.Context) (int, error) {
		return h.s.counts.total(ctx, k, now, func() (int, error) {
			return h.countDocs(ctx, filter, withDeleted)
		})
	})
}

// readBody checks the content type and size and decodes the body: JSON, or
// a form (application/x-www-form-urlencoded or multipart/form-data) whose
// fields are string values, a field given more than once a list of them,
// as Eve reads forms (no coercion: a boolean or integer property refuses
// the string "true" or "1").
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) (any, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
	if !isJSON && (err != nil || (mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data")) {
		// Eve answers 400 for a missing or unknown content type.
		writeError(w, http.StatusBadRequest, "Unknown or no Content-type header supplied")
		return nil, false
	}
	tooLarge := func(err error) bool {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes", mbe.Limit))
			return true
		}
		return false
	}
	limited := http.MaxBytesReader(w, r.Body, h.s.cfg.Resources.MaxBodyBytes)
	if mt == "multipart/form-data" {
		form, err := readMultipart(limited, params["boundary"])
		if err != nil {
			if !tooLarge(err) {
				writeError(w, http.StatusBadRequest, "Cannot read the multipart/form-data body: "+err.Error())
			}
			return nil, false
		}
		return formDocument(w, form, "No multipart/form-data supplied")
	}
	body, err := io.ReadAll(limited)
	if err != nil {
		if !tooLarge(err) {
			writeError(w, http.StatusBadRequest, "Cannot read the request body")
		}
		return nil, false
	}
	// RFC 8259 §8.1: JSON text is UTF-8. encoding/json would replace invalid
	// bytes with U+FFFD and store the altered text.
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, "The request body is not valid UTF-8")
		return nil, false
	}
	if !isJSON {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeError(w, http.StatusBadRequest, "The form-urlencoded body is malformed")
			return nil, false
		}
		return formDocument(w, form, "No form-urlencoded data supplied")
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

// readMultipart reads the fields of a multipart/form-data body; file parts
// are refused (the API has no media fields).
func readMultipart(body io.Reader, boundary string) (url.Values, error) {
	if boundary == "" {
		return nil, errors.New("no boundary")
	}
	mr := multipart.NewReader(body, boundary)
	form := url.Values{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return form, nil
		}
		if err != nil {
			return nil, err
		}
		if part.FileName() != "" {
			return nil, fmt.Errorf("the part %q is a file: files are not accepted", part.FormName())
		}
		v, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(v) {
			return nil, fmt.Errorf("the part %q is not valid UTF-8", part.FormName())
		}
		form.Add(part.FormName(), string(v))
	}
}

// formDocument turns form fields into a document as Eve does: one value is
// a string, several a list of strings.
func formDocument(w http.ResponseWriter, form url.Values, empty string) (any, bool) {
	if len(form) == 0 {
		writeError(w, http.StatusBadRequest, empty)
		return nil, false
	}
	doc := map[string]any{}
	for k, vals := range form {
		if !utf8.ValidString(k) {
			writeError(w, http.StatusBadRequest, "The form is not valid UTF-8")
			return nil, false
		}
		if len(vals) == 1 {
			doc[k] = vals[0]
			continue
		}
		list := make([]any, len(vals))
		for i, v := range vals {
			list[i] = v
		}
		doc[k] = list
	}
	return doc, true
}

// metaFields are ignored in a document from the client: a client may send
// back what it read (_id is checked apart).
var metaFields = []string{"_id", "_created", "_updated", "_etag", "_links", "_status", "_deleted", "_version", "_latest_version"}

// prepare checks one document and returns its stored form, or the issues
// found. client is what the client sent (doc itself, or a PATCH's patch):
// it may not set read-only properties (their defaults still apply). Meta
// fields the client echoes back are ignored; the owner field cannot be
// set (only echoed with the caller's own value).
// Date-time properties are read in RFC 1123 or RFC 3339 and stored in UTC
// with fixed precision (docquery.NormalizeTime), so that they sort and
// compare as times on every database.
func (h *handler) prepare(doc, client map[string]any, withDefaults bool) (map[string]any, issues) {
	is := issues{}
	h.readOnlyIssues(client, is)
	out := map[string]any{}
	for k, v := range doc {
		switch {
		case slices.Contains(metaFields, k):
		case h.res.OwnerField != "" && k == h.res.OwnerField:
			if s, _ := v.(string); s != h.owner {
				is[k] = "field is read-only"
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
	for _, f := range h.res.Fields {
		v, ok := out[f.Name]
		if !ok || v == nil || f.Type != docquery.DateTime {
			continue
		}
		s, _ := v.(string)
		t, err := query.ParseTime(s)
		if err != nil {
			is[f.Name] = "must be of datetime type"
			delete(out, f.Name) // one issue for the field, not the schema's too
			continue
		}
		out[f.Name] = docquery.NormalizeTime(t)
	}
	if err := h.res.Schema.Validate(any(out)); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			collectIssues(ve, is)
		} else {
			is.add(nil, err.Error())
		}
	}
	if len(is) > 0 {
		return nil, is
	}
	return out, nil
}

var printer = message.NewPrinter(language.English)

// collectIssues turns validation errors into Eve's _issues, worded as
// Cerberus words them.
func collectIssues(ve *jsonschema.ValidationError, is issues) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectIssues(c, is)
		}
		return
	}
	path := ve.InstanceLocation
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			is.add(append(slices.Clone(path), m), "required field")
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			is.add(append(slices.Clone(path), p), "unknown field")
		}
		return
	}
	is.add(path, cerberusMessage(ve.ErrorKind, ve.ErrorKind.LocalizedString(printer)))
}

// newDoc is a document of a write and the answer for it.
type newDoc struct {
	doc    docstore.Document
	chosen bool // the client chose its _id
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
		// As Eve, a list of one document is answered as that document.
		bulk = len(v) > 1
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
	docs := make([]newDoc, 0, len(raw))
	results := make([]map[string]any, 0, len(raw))
	failed := false
	// cleans are the valid documents, at ats in results.
	var cleans []map[string]any
	var ats []int
	for _, item := range raw {
		obj, ok := item.(map[string]any)
		if !ok {
			failed = true
			results = append(results, map[string]any{"_status": "ERR", "_issues": issues{"_schema": "not a JSON object"}})
			continue
		}
		clean, is := h.prepare(obj, obj, true)
		// A client-chosen _id is kept when it has the store's shape.
		id, chosen := docstore.NewID(), false
		if v, ok := obj["_id"]; ok {
			if s, _ := v.(string); validID(s) {
				id, chosen = s, true
			} else {
				if is == nil {
					is = issues{}
				}
				is["_id"] = "must be of objectid type"
			}
		}
		if is != nil {
			failed = true
			results = append(results, map[string]any{"_status": "ERR", "_issues": is})
			continue
		}
		data, err := json.Marshal(clean)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Cannot encode the document")
			return
		}
		d := docstore.Document{ID: id, Owner: h.owner, Created: now, Updated: now, ETag: docstore.NewETag(), Data: data}
		docs = append(docs, newDoc{doc: d, chosen: chosen})
		cleans = append(cleans, clean)
		ats = append(ats, len(results))
		results = append(results, map[string]any{"_status": "OK"})
	}
	// The references of every valid document are checked, together.
	found, err := h.relationIssues(r.Context(), cleans, nil)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	for i, is := range found {
		if is != nil {
			failed = true
			results[ats[i]] = map[string]any{"_status": "ERR", "_issues": is}
		}
	}
	if failed {
		// One invalid document rejects the whole batch (Eve's bulk insert).
		if bulk {
			writeIssues(w, nil, results)
		} else {
			writeIssues(w, results[0]["_issues"].(issues), nil)
		}
		return
	}
	seen := map[string]bool{}
	for i, d := range docs {
		if seen[d.doc.ID] {
			writeError(w, http.StatusConflict, fmt.Sprintf("Duplicate key error at index: %d: the _id %s is given twice", i, d.doc.ID))
			return
		}
		seen[d.doc.ID] = true
	}
	h.insert(w, r, docs, bulk, false)
}

// insert stores new documents and answers 201 with their meta fields and
// the first one's Location. A client-chosen _id that is taken answers 409
// (Eve's answer to a duplicate key), or 404 for a PUT's upsert (the id is
// another owner's document, which the caller cannot see).
func (h *handler) insert(w http.ResponseWriter, r *http.Request, docs []newDoc, bulk, upsert bool) {
	batch := make([]docstore.Document, len(docs))
	for i, d := range docs {
		batch[i] = d.doc
	}
	err := exec(r.Context(), h, func(ctx context.Context) error { return h.s.cfg.Store.Insert(ctx, h.res.Name, batch) })
	h.s.counts.written(h.res.Name, h.owner)
	if errors.Is(err, storage.ErrAlreadyExists) {
		if i, ok := h.takenID(r.Context(), docs); ok {
			if upsert {
				writeError(w, http.StatusNotFound, msgNotFound)
				return
			}
			writeError(w, http.StatusConflict, fmt.Sprintf("Duplicate key error at index: %d: a document with the _id %s exists", i, docs[i].doc.ID))
			return
		}
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	results := make([]map[string]any, len(batch))
	for i, d := range batch {
		results[i] = h.written(d)
	}
	w.Header().Set("Location", h.s.cfg.PublicURL+Prefix+"/"+h.res.URL+"/"+batch[0].ID)
	if upsert {
		w.Header().Set("ETag", quoteETag(batch[0].ETag))
		w.Header().Set("Last-Modified", httpDate(batch[0].Updated))
	}
	if bulk {
		writeJSON(w, http.StatusCreated, map[string]any{"_status": "OK", "_items": results})
		return
	}
	writeJSON(w, http.StatusCreated, results[0])
}

// written is the answer for a stored document: its meta fields.
func (h *handler) written(d docstore.Document) map[string]any {
	out := map[string]any{
		"_status": "OK", "_id": d.ID, "_etag": d.ETag,
		"_created": h.s.formatDate(d.Created), "_updated": h.s.formatDate(d.Updated),
	}
	h.setLinks(out, map[string]any{"self": map[string]string{"href": h.res.URL + "/" + d.ID, "title": h.res.ItemTitle}})
	h.stateFields(out, d)
	return h.wholeWritten(out, d)
}

// takenID tells, after an insert refused as a duplicate, whether a
// client-chosen _id was the duplicate, and the index of the first such
// document. It is, when one is the caller's document, or when the
// resource has no unique fields (then only an id can collide, maybe with
// another owner's document).
func (h *handler) takenID(ctx context.Context, docs []newDoc) (int, bool) {
	first := -1
	for i, d := range docs {
		if !d.chosen {
			continue
		}
		if first < 0 {
			first = i
		}
		if _, err := h.getDoc(ctx, d.doc.ID); err == nil {
			return i, true
		}
	}
	return first, first >= 0 && len(h.res.Unique) == 0
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

// getDoc reads one of the owner's documents (one the datasource filter
// matches).
func (h *handler) getDoc(ctx context.Context, id string) (docstore.Document, error) {
	if h.res.Filter != nil {
		return h.filteredDoc(ctx, id)
	}
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
	if !givenOnce(w, q, "projection", "embedded") {
		return
	}
	proj, err := query.ParseProjection(q.Get("projection"), h.res, append(h.res.Properties(), h.res.OwnerField)...)
	if err != nil {
		badRequest(w, err)
		return
	}
	rels, ok := h.parseEmbedded(w, r, q.Get("embedded"))
	if !ok {
		return
	}
	if h.res.Versioning && q.Has(versionParam) {
		h.getVersion(w, r, d, q, proj)
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
	if d.Deleted {
		h.done()
		h.deletedAnswer(w, r, d, proj)
		return
	}
	emb, err := h.lookupEmbedded(r.Context(), rels, []docstore.Document{d})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	h.done() // as in list
	out, err := h.render(d, proj, true)
	if err == nil {
		err = emb.apply(out, d)
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	h.setCache(w)
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
	if errors.Is(err, storage.ErrNotFound) && !patch && h.s.upsertOnPut() {
		h.upsert(w, r, id, obj)
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if cur.Deleted && patch {
		// Eve: a soft-deleted document cannot be patched (a PUT restores it).
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	// As Eve, If-Match is asked for once the document is known to exist.
	etag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	if etag != cur.ETag && etag != "*" {
		writeError(w, http.StatusPreconditionFailed, msgStaleETag)
		return
	}
	if v, ok := obj["_id"]; ok && v != cur.ID {
		writeUpdateIssues(w, issues{"_id": "field is read-only"})
		return
	}
	var old map[string]any
	dec := json.NewDecoder(bytes.NewReader(cur.Data))
	dec.UseNumber()
	if err := dec.Decode(&old); err != nil {
		h.storeError(w, r, err)
		return
	}
	doc := maps.Clone(obj)
	if patch {
		doc = maps.Clone(old)
		for k, v := range obj {
			doc[k] = v
		}
	}
	// A read-only value stays what it is, whatever the write replaces
	// around it (a PUT, or a PATCH of the object that holds it).
	keepReadOnly(doc, old, h.res.ReadOnly)
	clean, is := h.prepare(doc, obj, !patch)
	var only map[string]any
	if patch {
		only = obj
	}
	data, ok := h.encodeChecked(w, r, clean, is, only, func(is issues) { writeUpdateIssues(w, is) })
	if !ok {
		return
	}
	now := h.s.cfg.Now().UTC().Truncate(time.Second)
	next := docstore.Document{ID: cur.ID, Owner: h.owner, Created: cur.Created, Updated: now, ETag: docstore.NewETag(), Data: data,
		Version: docstore.NextVersion(cur.Version)}
	// The swap compares with the stored tag, so a concurrent writer between
	// Get and Replace makes this a 412.
	err = exec(ctx, h, func(ctx context.Context) error { return h.s.cfg.Store.Replace(ctx, h.res.Name, next, cur.ETag) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("ETag", quoteETag(next.ETag))
	if !patch {
		w.Header().Set("Last-Modified", httpDate(next.Updated))
	}
	writeJSON(w, http.StatusOK, h.written(next))
}

// encodeChecked finishes the checks of one prepared document: unless
// prepare found issues already, its references (only those of a PATCH's
// patch when only is set). It answers the issues with report, and
// otherwise returns the document's stored form.
func (h *handler) encodeChecked(w http.ResponseWriter, r *http.Request, clean map[string]any, is issues, only map[string]any, report func(issues)) ([]byte, bool) {
	if is == nil {
		found, err := h.relationIssues(r.Context(), []map[string]any{clean}, only)
		if err != nil {
			h.storeError(w, r, err)
			return nil, false
		}
		is = found[0]
	}
	if is != nil {
		report(is)
		return nil, false
	}
	data, err := json.Marshal(clean)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Cannot encode the document")
		return nil, false
	}
	return data, true
}

// upsert creates the document a PUT names when it does not exist (Eve's
// UPSERT_ON_PUT): the URL's id (of the store's shape, else 404), owned by
// the caller, answered as a POST is.
func (h *handler) upsert(w http.ResponseWriter, r *http.Request, id string, obj map[string]any) {
	if !validID(id) {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	if v, ok := obj["_id"]; ok && v != id {
		writeIssues(w, issues{"_id": "field is read-only"}, nil)
		return
	}
	clean, is := h.prepare(obj, obj, true)
	data, ok := h.encodeChecked(w, r, clean, is, nil, func(is issues) { writeIssues(w, is, nil) })
	if !ok {
		return
	}
	now := h.s.cfg.Now().UTC().Truncate(time.Second)
	d := docstore.Document{ID: id, Owner: h.owner, Created: now, Updated: now, ETag: docstore.NewETag(), Data: data}
	h.insert(w, r, []newDoc{{doc: d, chosen: true}}, false, true)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request, id string) {
	etag, ok := ifMatch(w, r)
	if !ok {
		return
	}
	if h.res.SoftDelete {
		h.softDelete(w, r, id, etag)
		return
	}
	if etag == "*" || h.res.Filter != nil {
		// A document outside the datasource filter is not found.
		d, err := h.getDoc(r.Context(), id)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		if etag == "*" {
			etag = d.ETag
		}
	}
	err := exec(r.Context(), h, func(ctx context.Context) error { return h.s.cfg.Store.Delete(ctx, h.res.Name, h.owner, id, etag) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
