package api

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// Eve's soft delete: with a resource's soft_delete, a DELETE marks the
// document _deleted (a new _etag and _updated, a new version when
// versioned) and keeps it. Lists skip deleted documents unless asked for
// them with ?show_deleted; an item GET of one answers 404 with the
// document; a PATCH of one is a 404 and a PUT restores it. Unique values
// and data_relation look-ups ignore deleted documents (the store's Find
// skips them).

// showDeletedParam is Eve's SHOW_DELETED_PARAM: present with any value, a
// list includes the soft-deleted documents.
const showDeletedParam = "show_deleted"

// msgDeleted is the message of Eve's 404 for a soft-deleted document
// (Eve words it apart from its other 404s).
const msgDeleted = "The requested URL was not found on this server."

// showDeleted tells whether a list includes the soft-deleted documents.
func (h *handler) showDeleted(q url.Values) bool {
	return h.res.SoftDelete && q.Has(showDeletedParam)
}

// find is the store's Find, with the soft-deleted documents when
// withDeleted.
func (h *handler) find(ctx context.Context, q docquery.Query, withDeleted bool) ([]docstore.Document, error) {
	if withDeleted {
		return h.s.cfg.Store.FindWithDeleted(ctx, h.res.Name, h.owner, q)
	}
	return h.s.cfg.Store.Find(ctx, h.res.Name, h.owner, q)
}

// countDocs is the store's Count, with the soft-deleted documents when
// withDeleted.
func (h *handler) countDocs(ctx context.Context, filter docquery.Expr, withDeleted bool) (int, error) {
	if withDeleted {
		return h.s.cfg.Store.CountWithDeleted(ctx, h.res.Name, h.owner, filter)
	}
	return h.s.cfg.Store.Count(ctx, h.res.Name, h.owner, filter)
}

// countWhere is the where a list total is cached by: a total with the
// deleted documents is kept apart (a where never starts with a NUL).
func countWhere(where string, withDeleted bool) string {
	if withDeleted {
		return "\x00" + showDeletedParam + "\x00" + where
	}
	return where
}

// stateFields adds a document's _deleted (soft_delete) and _version and
// _latest_version (versioning) to its rendering, as Eve shows them on
// every document of such a resource. A document written before the
// resource was versioned is at version 1.
func (h *handler) stateFields(out map[string]any, d docstore.Document) {
	if h.res.SoftDelete {
		out["_deleted"] = d.Deleted
	}
	if h.res.Versioning {
		v := max(d.Version, 1)
		out["_version"] = v
		out["_latest_version"] = v
	}
}

// deletedAnswer answers an item GET of a soft-deleted document as Eve
// does: 404, the document (with _deleted: true) and the error envelope.
func (h *handler) deletedAnswer(w http.ResponseWriter, r *http.Request, d docstore.Document, proj query.Projection) {
	out, err := h.render(d, proj, true)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	h.deletedBody(w, out)
}

// deletedBody answers a rendered soft-deleted document with 404.
func (h *handler) deletedBody(w http.ResponseWriter, out map[string]any) {
	out["_status"] = "ERR"
	out["_error"] = map[string]any{"code": http.StatusNotFound, "message": msgDeleted}
	writeErrorJSON(w, http.StatusNotFound, out)
}

// softDelete marks the owner's document id deleted if its entity tag is
// etag ("*": any), answering 204; a missing or already deleted document
// is a 404.
func (h *handler) softDelete(w http.ResponseWriter, r *http.Request, id, etag string) {
	ctx := r.Context()
	cur, err := h.getDoc(ctx, id)
	if err == nil && cur.Deleted {
		err = storage.ErrNotFound
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if etag == "*" {
		etag = cur.ETag
	}
	next := cur
	next.Deleted = true
	next.Updated = h.s.cfg.Now().UTC().Truncate(time.Second)
	next.ETag = docstore.NewETag()
	next.Version = docstore.NextVersion(cur.Version)
	// The swap compares with the client's tag: a stale one is a 412.
	err = exec(ctx, h, func(ctx context.Context) error { return h.s.cfg.Store.Replace(ctx, h.res.Name, next, etag) })
	h.s.counts.written(h.res.Name, h.owner)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stateDocs adds soft delete and versioning to the OpenAPI document: the
// show_deleted and version parameters, and the _deleted, _version and
// _latest_version of the resources' documents.
func stateDocs(set *resource.Set, paths, schemas map[string]any) {
	for _, r := range set.Resources {
		if !r.SoftDelete && !r.Versioning {
			continue
		}
		meta := map[string]any{}
		if r.SoftDelete {
			meta["_deleted"] = map[string]any{"type": "boolean", "readOnly": true,
				"description": "true for a soft-deleted document (soft_delete); listed with ?show_deleted"}
		}
		if r.Versioning {
			meta["_version"] = map[string]any{"type": "integer", "minimum": 1, "readOnly": true,
				"description": "the document's version (versioning)"}
			meta["_latest_version"] = map[string]any{"type": "integer", "minimum": 1, "readOnly": true,
				"description": "the document's latest version"}
		}
		if s, ok := schemas[r.Name].(map[string]any); ok {
			props, _ := s["properties"].(map[string]any)
			props = maps.Clone(props)
			if props == nil {
				props = map[string]any{}
			}
			maps.Copy(props, meta)
			s["properties"] = props
		}
		op := func(path, method string) map[string]any {
			p, _ := paths[path].(map[string]any)
			o, _ := p[method].(map[string]any)
			return o
		}
		addParam := func(o map[string]any, param map[string]any) {
			if o == nil {
				return
			}
			params, _ := o["parameters"].([]any)
			o["parameters"] = append(slices.Clone(params), param)
		}
		if r.SoftDelete {
			addParam(op("/"+r.URL, "get"), map[string]any{"name": showDeletedParam, "in": "query", "schema": map[string]any{"type": "string"},
				"description": "present (with any value): the list includes the soft-deleted documents, with _deleted: true"})
			if o := op("/"+r.URL+"/{id}", "get"); o != nil {
				o["description"] = "A soft-deleted document answers 404 with the document (_deleted: true) in the error envelope. A PUT restores it; a PATCH or DELETE of it is a 404."
			}
		}
		if r.Versioning {
			o := op("/"+r.URL+"/{id}", "get")
			addParam(o, map[string]any{"name": versionParam, "in": "query", "schema": map[string]any{"type": "string"},
				"description": "N (a positive integer): version N of the document (404 when there is none); all: every version, a paginated list (_items, _meta, max_results, page); diffs: the same list with the first version whole and, of each next one, the fields that changed. Anything else is a 400."})
			if o != nil {
				if resp, ok := o["responses"].(map[string]any); ok {
					resp["400"] = map[string]any{"description": "Eve error envelope", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
				}
			}
		}
	}
}
