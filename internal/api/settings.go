package api

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// Eve's resource settings as they shape answers (resource.Settings):
// datasource's filter and projection, hateoas, bandwidth_saver and
// pagination: false.

// maxUnpaginated bounds the documents of a list of a resource with
// pagination: false (Eve answers every match); X-Total-Count still tells
// how many match.
const maxUnpaginated = 1000

// readFilter is the filter of a read: the client's where ANDed with the
// resource's datasource.filter.
func (h *handler) readFilter(client docquery.Expr) docquery.Expr {
	switch {
	case h.res.Filter == nil:
		return client
	case client == nil:
		return h.res.Filter
	}
	return docquery.And{h.res.Filter, client}
}

// keep tells whether the datasource's projection shows field.
func (h *handler) keep(field string) bool { return h.res.Projection.Keep(field) }

// setLinks sets out's _links unless the resource has hateoas: false.
func (h *handler) setLinks(out map[string]any, links any) {
	if !h.res.NoHATEOAS {
		out["_links"] = links
	}
}

// filteredDoc reads one of the owner's documents when it matches the
// datasource filter: storage.ErrNotFound otherwise.
func (h *handler) filteredDoc(ctx context.Context, id string) (docstore.Document, error) {
	docs, err := run(ctx, h, func(ctx context.Context) ([]docstore.Document, error) {
		return h.s.cfg.Store.Find(ctx, h.res.Name, h.owner, docquery.Query{
			Filter: h.readFilter(&docquery.Cond{Field: docquery.FieldID, Op: docquery.Eq, Value: id}), Limit: 1,
		})
	})
	if err != nil {
		return docstore.Document{}, err
	}
	if len(docs) == 0 {
		return docstore.Document{}, storage.ErrNotFound
	}
	return docs[0], nil
}

// wholeWritten adds the document's fields to a write's answer when the
// resource has bandwidth_saver: false.
func (h *handler) wholeWritten(out map[string]any, d docstore.Document) map[string]any {
	if !h.res.NoBandwidthSaver {
		return out
	}
	full, err := h.render(d, query.Projection{}, true)
	if err != nil {
		return out // the meta fields, at least
	}
	full["_status"] = out["_status"]
	return full
}
