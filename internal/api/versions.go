package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// Eve's document versioning: with a resource's versioning, every write
// keeps a copy of the document (the store's versions table), documents
// show _version and _latest_version, and an item GET with ?version=N
// answers version N, ?version=all every version (a paginated list) and
// ?version=diffs the first version whole and then, of each next one, the
// fields that changed. A version's _created is the document's (Eve does
// not version it); its _updated, _etag, _deleted and fields are the
// version's.

// versionParam is Eve's VERSION_PARAM.
const versionParam = "version"

// msgBadVersion is Eve's answer to a version that is not a positive
// integer, all or diffs.
const msgBadVersion = "Document version number should be an int greater than 0"

// diffMeta are the meta fields a diff shows when they changed (Eve's
// diff_document); _deleted is not one of them.
var diffMeta = []string{"_version", "_latest_version", "_id", "_updated", "_created", "_etag", "_links"}

// getVersion answers an item GET with ?version= of latest, the owner's
// document as stored.
func (h *handler) getVersion(w http.ResponseWriter, r *http.Request, latest docstore.Document, q url.Values, proj query.Projection) {
	if !givenOnce(w, q, versionParam) {
		return
	}
	v := q.Get(versionParam)
	if v == "all" || v == "diffs" {
		h.listVersions(w, r, latest, q, proj, v == "diffs")
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, msgBadVersion)
		return
	}
	d, err := h.version(r.Context(), latest, n)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	h.done()
	out, err := h.renderVersion(d, latest, proj)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	self := h.res.URL + "/" + latest.ID
	h.setLinks(out, map[string]any{
		"self":       map[string]string{"href": self + "?version=" + strconv.Itoa(n), "title": h.res.ItemTitle},
		"parent":     map[string]string{"href": self, "title": h.res.ItemTitle},
		"collection": map[string]string{"href": self + "?version=all", "title": h.res.Title()},
	})
	w.Header().Set("ETag", quoteETag(d.ETag))
	w.Header().Set("Last-Modified", httpDate(latest.Updated))
	if d.Deleted && h.res.SoftDelete {
		h.deletedBody(w, out)
		return
	}
	h.setCache(w)
	writeJSON(w, http.StatusOK, out)
}

// version reads version n of latest: storage.ErrNotFound when there is
// none. A document written before versioning has no stored versions: its
// version 1 is itself.
func (h *handler) version(ctx context.Context, latest docstore.Document, n int) (docstore.Document, error) {
	d, err := run(ctx, h, func(ctx context.Context) (docstore.Document, error) {
		return h.s.cfg.Store.GetVersion(ctx, h.res.Name, h.owner, latest.ID, n)
	})
	if errors.Is(err, storage.ErrNotFound) && latest.Version == 0 && n == 1 {
		return latest, nil
	}
	return d, err
}

// renderVersion renders version d of latest with its _version and the
// _latest_version.
func (h *handler) renderVersion(d, latest docstore.Document, proj query.Projection) (map[string]any, error) {
	d.Created = latest.Created
	out, err := h.render(d, proj, false)
	if err != nil {
		return nil, err
	}
	out["_version"] = max(d.Version, 1)
	out["_latest_version"] = max(latest.Version, 1)
	return out, nil
}

// listVersions answers ?version=all (every version, in order) or
// ?version=diffs, paginated as a list is.
func (h *handler) listVersions(w http.ResponseWriter, r *http.Request, latest docstore.Document, q url.Values, proj query.Projection, diffs bool) {
	if !givenOnce(w, q, "max_results", "page") {
		return
	}
	maxResults, page, ok := h.paging(w, q)
	if !ok {
		return
	}
	ctx := r.Context()
	offset := (page - 1) * maxResults
	total, err := run(ctx, h, func(ctx context.Context) (int, error) {
		return h.s.cfg.Store.CountVersions(ctx, h.res.Name, h.owner, latest.ID)
	})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	var docs []docstore.Document
	switch {
	case total == 0:
		// Written before versioning: the document is its only version.
		total = 1
		if page == 1 {
			docs = []docstore.Document{latest}
		}
	case offset < total:
		docs, err = run(ctx, h, func(ctx context.Context) ([]docstore.Document, error) {
			return h.s.cfg.Store.FindVersions(ctx, h.res.Name, h.owner, latest.ID, maxResults, offset)
		})
		if err != nil {
			h.storeError(w, r, err)
			return
		}
	}
	// A page of diffs after the first starts from the version before it.
	var prev map[string]any
	if diffs && len(docs) > 0 && docs[0].Version > 1 {
		d, err := h.version(ctx, latest, docs[0].Version-1)
		if err == nil {
			prev, err = h.renderVersion(d, latest, proj)
		}
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		h.versionLinks(prev, latest.ID, d.Version)
	}
	h.done()
	items := []map[string]any{}
	for _, d := range docs {
		it, err := h.renderVersion(d, latest, proj)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		h.versionLinks(it, latest.ID, max(d.Version, 1))
		if diffs && prev != nil {
			items = append(items, diffVersion(prev, it))
		} else {
			items = append(items, it)
		}
		prev = it
	}
	self := h.res.URL + "/" + latest.ID
	link := func(p int, title string) map[string]string { return pageLink(self, q, maxResults, p, title) }
	links := map[string]any{
		"self":       map[string]string{"href": self + "?" + r.URL.RawQuery, "title": h.res.ItemTitle},
		"parent":     map[string]string{"href": h.res.URL, "title": h.res.Title()},
		"collection": map[string]string{"href": self, "title": h.res.ItemTitle},
	}
	last := max(1, (total+maxResults-1)/maxResults)
	if page < last {
		links["next"] = link(page+1, "next page")
		links["last"] = link(last, "last page")
	}
	if page > 1 {
		links["prev"] = link(page-1, "previous page")
	}
	body := map[string]any{"_items": items, "_meta": map[string]any{"page": page, "max_results": maxResults, "total": total}}
	h.setLinks(body, links)
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	w.Header().Set("ETag", quoteETag(latest.ETag))
	w.Header().Set("Last-Modified", httpDate(latest.Updated))
	h.setCache(w)
	writeJSON(w, http.StatusOK, body)
}

// versionLinks sets the self link of version v of a document in a list of
// versions, as Eve links it (with ?version=v).
func (h *handler) versionLinks(out map[string]any, id string, v int) {
	h.setLinks(out, map[string]any{"self": map[string]string{
		"href": h.res.URL + "/" + id + "?version=" + strconv.Itoa(v), "title": h.res.ItemTitle}})
}

// diffVersion returns the fields of next that are new or changed since
// prev: the document's fields and diffMeta (Eve's diff_document; a field
// removed does not show).
func diffVersion(prev, next map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range next {
		if strings.HasPrefix(k, "_") && !slices.Contains(diffMeta, k) {
			continue
		}
		old, ok := prev[k]
		if !ok || !sameJSON(old, v) {
			out[k] = v
		}
	}
	return out
}

// sameJSON tells whether a and b encode to the same JSON (object keys
// sorted, raw values compacted).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
