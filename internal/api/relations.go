package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// Eve's readonly and data_relation rules, and its ?embedded= parameter.
//
// A reference is read for the caller: in a resource with owners, only the
// caller's own documents exist, so a reference to another owner's document
// is refused on write and stays a bare reference on read, never revealing
// the document.

// lookupBatch bounds the values of one look-up query (the document store
// takes at most 200 values in an $in).
const lookupBatch = 200

// maxReferences bounds the references one request looks up through one
// relation (a write's documents, or a page to embed into): each batch of
// lookupBatch is a query, so a large body or page of references must not
// turn into hundreds of them.
const maxReferences = 1000

// errTooManyReferences: a request refers to more than maxReferences
// documents through one relation.
var errTooManyReferences = fmt.Errorf("more than %d references through one relation", maxReferences)

// lookupRows bounds the documents one look-up query reads when the
// referenced field is not _id (several documents may share a value).
const lookupRows = 1000

// readOnlyIssues records an issue for each read-only property the client's
// document sets.
func (h *handler) readOnlyIssues(client map[string]any, is issues) {
	for _, p := range h.res.ReadOnly {
		segs := strings.Split(p, ".")
		var v any = client
		present := true
		for _, s := range segs {
			m, isMap := v.(map[string]any)
			if !isMap {
				present = false
				break
			}
			if v, present = m[s]; !present {
				break
			}
		}
		if present {
			is.add(segs, "field is read-only")
		}
	}
}

// keepReadOnly copies the stored values of the read-only dotted paths from
// old into doc, creating the objects on the way in doc where they are
// missing; a path old does not hold is left as doc has it (a default may
// fill it). Objects of doc on the way are copied before they are changed:
// they may be the client's.
func keepReadOnly(doc, old map[string]any, paths []string) {
	for _, p := range paths {
		segs := strings.Split(p, ".")
		var v any = old
		for _, s := range segs {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			if v, ok = m[s]; !ok {
				break
			}
		}
		if v == nil {
			continue // not stored (or stored as null): nothing to keep
		}
		dst := doc
		for _, s := range segs[:len(segs)-1] {
			next, ok := dst[s].(map[string]any)
			if ok {
				next = maps.Clone(next)
			} else {
				next = map[string]any{}
			}
			dst[s] = next
			dst = next
		}
		dst[segs[len(segs)-1]] = v
	}
}

// reference is one value of a data_relation in a document.
type reference struct {
	doc   int      // the document's index in its batch
	path  []string // where it stands, for _issues (list items by index)
	value any
}

// references appends the values at the dotted path segs of v to out: a
// list on the way or at the end gives each of its items; null and missing
// values give none.
func references(v any, segs, at []string, doc int, out []reference) []reference {
	switch x := v.(type) {
	case nil:
		return out
	case []any:
		for i, it := range x {
			out = references(it, segs, append(slices.Clone(at), strconv.Itoa(i)), doc, out)
		}
		return out
	case map[string]any:
		if len(segs) > 0 {
			c, ok := x[segs[0]]
			if !ok {
				return out
			}
			return references(c, segs[1:], append(slices.Clone(at), segs[0]), doc, out)
		}
	}
	if len(segs) > 0 {
		return out // a scalar where a dict was expected
	}
	return append(out, reference{doc: doc, path: at, value: v})
}

// lookupValue converts a reference to the value a field of type t is
// queried with, and a key that compares it with the field's stored values;
// ok is false for a value the field cannot hold.
func lookupValue(t docquery.Type, v any) (q any, key string, ok bool) {
	switch x := v.(type) {
	case string:
		switch t {
		case docquery.String, docquery.Array:
			return x, "s:" + x, true
		case docquery.DateTime:
			tm, err := query.ParseTime(x)
			if err != nil {
				return nil, "", false
			}
			n := docquery.NormalizeTime(tm)
			return n, "s:" + n, true
		}
	case bool:
		if t == docquery.Boolean || t == docquery.Array {
			return x, "b:" + strconv.FormatBool(x), true
		}
	case json.Number:
		f, err := x.Float64()
		if err == nil {
			return lookupValue(t, f)
		}
	case float64:
		if (t == docquery.Number || t == docquery.Array) && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return x, "n:" + strconv.FormatFloat(x, 'g', -1, 64), true
		}
	}
	return nil, "", false
}

// related finds the documents of rel's resource that refs refer to, as the
// caller reads them, by the keys of lookupValue. It queries lookupBatch
// values at a time.
func (h *handler) related(ctx context.Context, rel resource.Relation, refs []reference) (*resource.Resource, map[string]docstore.Document, error) {
	target, ok := h.s.byName(rel.Resource)
	if !ok {
		return nil, nil, fmt.Errorf("data_relation of %s.%s: resource %q is not declared", h.res.Name, rel.Path, rel.Resource)
	}
	field, ok := target.Field(rel.Field)
	if !ok {
		return nil, nil, fmt.Errorf("data_relation of %s.%s: %q is not a field of %s", h.res.Name, rel.Path, rel.Field, rel.Resource)
	}
	found := map[string]docstore.Document{}
	owner := ""
	if target.OwnerField != "" {
		if h.claims == nil || h.claims.Subject == "" {
			return target, found, nil // an anonymous caller owns nothing
		}
		owner = h.claims.Subject
	}
	seen := map[string]bool{}
	var values []any
	var keys []string
	for _, ref := range refs {
		q, key, ok := lookupValue(field.Type, ref.value)
		if !ok || seen[key] || (rel.Field == docquery.FieldID && !validID(ref.value.(string))) {
			continue
		}
		seen[key] = true
		values = append(values, q)
		keys = append(keys, key)
	}
	find := func(filter docquery.Expr, limit int) ([]docstore.Document, error) {
		return run(ctx, h, func(ctx context.Context) ([]docstore.Document, error) {
			return h.s.cfg.Store.Find(ctx, target.Name, owner, docquery.Query{Filter: filter, Limit: limit})
		})
	}
	for start := 0; start < len(values); start += lookupBatch {
		end := min(start+lookupBatch, len(values))
		limit := 0 // ids are unique: at most one document a value
		if rel.Field != docquery.FieldID {
			limit = lookupRows
		}
		docs, err := find(&docquery.Cond{Field: rel.Field, Op: docquery.In, Values: values[start:end]}, limit)
		if err != nil {
			return nil, nil, err
		}
		if err := index(found, rel.Field, field.Type, docs); err != nil {
			return nil, nil, err
		}
		if limit == 0 || len(docs) < limit {
			continue
		}
		// Some values matched many documents: the others are looked up
		// one by one.
		for i := start; i < end; i++ {
			if _, ok := found[keys[i]]; ok {
				continue
			}
			docs, err := find(&docquery.Cond{Field: rel.Field, Op: docquery.Eq, Value: values[i]}, 1)
			if err != nil {
				return nil, nil, err
			}
			if err := index(found, rel.Field, field.Type, docs); err != nil {
				return nil, nil, err
			}
		}
	}
	return target, found, nil
}

// index records docs in found by the keys of their field's value (each
// item's, for an array field); the first document of a key stays.
func index(found map[string]docstore.Document, field string, t docquery.Type, docs []docstore.Document) error {
	for _, d := range docs {
		var vals []any
		if field == docquery.FieldID {
			vals = []any{d.ID}
		} else {
			var data map[string]json.RawMessage
			if err := json.Unmarshal(d.Data, &data); err != nil {
				return fmt.Errorf("document %s: %w", d.ID, err)
			}
			v, err := decodeValue(data[field])
			if err != nil {
				return fmt.Errorf("document %s: %w", d.ID, err)
			}
			if list, ok := v.([]any); ok {
				vals = list
			} else {
				vals = []any{v}
			}
		}
		for _, v := range vals {
			if _, key, ok := lookupValue(t, v); ok {
				if _, taken := found[key]; !taken {
					found[key] = d
				}
			}
		}
	}
	return nil
}

// decodeValue decodes a stored JSON value, numbers as json.Number; a
// missing value is nil.
func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// relationIssues checks that the references of docs exist, one query per
// relation (per lookupBatch values) for all of them, and returns each
// document's issues (nil when it has none) in Eve's words. only, when not
// nil, is a PATCH's patch: the relations of the properties it does not set
// are not checked again.
func (h *handler) relationIssues(ctx context.Context, docs []map[string]any, only map[string]any) ([]issues, error) {
	out := make([]issues, len(docs))
	for _, rel := range h.res.Relations {
		segs := strings.Split(rel.Path, ".")
		if _, set := only[segs[0]]; only != nil && !set {
			continue
		}
		var refs []reference
		for i, d := range docs {
			refs = references(d, segs, nil, i, refs)
		}
		if len(refs) == 0 {
			continue
		}
		if len(refs) > maxReferences {
			return nil, fmt.Errorf("%s: %w", rel.Path, errTooManyReferences)
		}
		target, found, err := h.related(ctx, rel, refs)
		if err != nil {
			return nil, err
		}
		field, _ := target.Field(rel.Field)
		for _, ref := range refs {
			if _, key, ok := lookupValue(field.Type, ref.value); ok {
				if _, exists := found[key]; exists {
					continue
				}
			}
			if out[ref.doc] == nil {
				out[ref.doc] = issues{}
			}
			out[ref.doc].add(ref.path, fmt.Sprintf("value '%v' must exist in resource '%s', field '%s'.", ref.value, rel.Resource, rel.Field))
		}
	}
	return out, nil
}

// embedParam is the query parameter that asks for embedded documents.
const embedParam = "embedded"

// parseEmbedded reads the embedded parameter ({"friend": 1}, Eve's): the
// relations to embed, each a top-level embeddable data_relation whose
// resource the caller may read. It answers the error itself when it
// returns false.
func (h *handler) parseEmbedded(w http.ResponseWriter, r *http.Request, param string) ([]resource.Relation, bool) {
	param = strings.TrimSpace(param)
	if param == "" {
		return nil, true
	}
	if h.res.NoEmbedding {
		writeError(w, http.StatusBadRequest, "Embedding is disabled for "+h.res.Name+" (embedding: false)")
		return nil, false
	}
	unparsable := func(why string) ([]resource.Relation, bool) {
		writeError(w, http.StatusBadRequest, "Unable to parse `"+embedParam+"` clause: "+why)
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(param))
	dec.UseNumber()
	var spec map[string]any
	if err := dec.Decode(&spec); err != nil {
		return unparsable(err.Error())
	}
	if _, err := dec.Token(); err == nil {
		return unparsable("trailing data")
	}
	if spec == nil {
		return unparsable("want a JSON object such as {\"field\": 1}")
	}
	var out []resource.Relation
	for _, name := range sortedNames(spec) {
		switch v := spec[name]; v {
		case json.Number("1"), true:
		case json.Number("0"), false:
			continue
		default:
			return unparsable(fmt.Sprintf("the value of %q must be 1 or 0", name))
		}
		i := slices.IndexFunc(h.res.Relations, func(rel resource.Relation) bool { return rel.Path == name })
		if i < 0 || !h.res.Relations[i].Embeddable {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Field '%s' is not embeddable: it is not a data_relation of %s marked embeddable", name, h.res.Name))
			return nil, false
		}
		rel := h.res.Relations[i]
		if strings.Contains(rel.Path, ".") {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Field '%s' is not embeddable: only top-level fields are embedded", name))
			return nil, false
		}
		target, ok := h.s.byName(rel.Resource)
		if !ok || !h.mayRead(w, r, name, target) {
			if !ok {
				writeError(w, http.StatusInternalServerError, "Internal server error")
			}
			return nil, false
		}
		out = append(out, rel)
	}
	return out, true
}

// mayRead tells whether the caller may read target's documents to embed
// them, as a GET of each of them would: target must serve its documents
// (GET among its item methods), and the caller needs a token with target's
// read scope or, on a public request, target's item GET must be public too
// (otherwise the request's token is authenticated as target's GET would).
// It answers the refusal itself.
func (h *handler) mayRead(w http.ResponseWriter, r *http.Request, name string, target *resource.Resource) bool {
	if !slices.Contains(target.ItemMethods, http.MethodGet) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Field '%s' is not embeddable: resource '%s' does not serve its documents", name, target.Name))
		return false
	}
	if h.claims == nil {
		if slices.Contains(target.PublicItemMethods, http.MethodGet) {
			return true
		}
		claims, e := bearer.Authenticate(r, h.s.cfg.Verifier, h.s.auth...)
		if e != nil {
			writeBearerError(w, r, e)
			return false
		}
		h.claims = claims
	}
	return hasScope(w, r, h.claims, target.ReadScope())
}

func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// embedding are the related documents of a page, rendered, by relation
// path and lookupValue key.
type embedding struct {
	rels  []resource.Relation
	types []docquery.Type // of each relation's referenced field
	docs  []map[string]map[string]any
}

// lookupEmbedded reads the documents rels refer to from docs: one query
// per relation (per lookupBatch values) for the whole page.
func (h *handler) lookupEmbedded(ctx context.Context, rels []resource.Relation, docs []docstore.Document) (*embedding, error) {
	e := &embedding{}
	for _, rel := range rels {
		var refs []reference
		for i, d := range docs {
			v, err := storedField(d, rel.Path)
			if err != nil {
				return nil, err
			}
			refs = references(v, nil, nil, i, refs)
		}
		if len(refs) > maxReferences {
			return nil, fmt.Errorf("%s: %w", rel.Path, errTooManyReferences)
		}
		target, found, err := h.related(ctx, rel, refs)
		if err != nil {
			return nil, err
		}
		th := &handler{s: h.s, res: target}
		rendered := map[string]map[string]any{}
		for key, d := range found {
			if rendered[key], err = th.render(d, query.Projection{}, false); err != nil {
				return nil, err
			}
		}
		field, _ := target.Field(rel.Field)
		e.rels = append(e.rels, rel)
		e.types = append(e.types, field.Type)
		e.docs = append(e.docs, rendered)
	}
	return e, nil
}

// storedField returns the value of d's top-level field name.
func storedField(d docstore.Document, name string) (any, error) {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(d.Data, &data); err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ID, err)
	}
	v, err := decodeValue(data[name])
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ID, err)
	}
	return v, nil
}

// apply replaces, in out (d rendered), each embedded reference by its
// document; a reference to no document the caller can read stays as it is.
func (e *embedding) apply(out map[string]any, d docstore.Document) error {
	for i, rel := range e.rels {
		if _, kept := out[rel.Path]; !kept {
			continue // left out by the projection
		}
		v, err := storedField(d, rel.Path)
		if err != nil {
			return err
		}
		embed := func(v any) (any, bool) {
			_, key, ok := lookupValue(e.types[i], v)
			if doc, found := e.docs[i][key]; ok && found {
				return doc, true
			}
			return v, false
		}
		if list, isList := v.([]any); isList {
			items := make([]any, len(list))
			changed := false
			for j, it := range list {
				var did bool
				items[j], did = embed(it)
				changed = changed || did
			}
			if changed {
				out[rel.Path] = items
			}
			continue
		}
		if doc, did := embed(v); did {
			out[rel.Path] = doc
		}
	}
	return nil
}
