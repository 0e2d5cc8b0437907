package api

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// lookup serves a GET of an additional_lookup URL (Eve's, read-only): the
// owner's document whose lookup field equals value, answered as its item
// URL's GET answers it. Another owner's document is not found, as on the
// item URL.
func (h *handler) lookup(w http.ResponseWriter, r *http.Request, value string) {
	l := h.res.Lookup
	var v any = value
	if l.Type == docquery.Number {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			writeError(w, http.StatusNotFound, msgNotFound)
			return
		}
		v = f
	}
	docs, err := run(r.Context(), h, func(ctx context.Context) ([]docstore.Document, error) {
		return h.s.cfg.Store.Find(ctx, h.res.Name, h.owner, docquery.Query{
			Filter: h.readFilter(&docquery.Cond{Field: l.Field, Op: docquery.Eq, Value: v}), Limit: 1,
		})
	})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if len(docs) == 0 {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	h.get(w, r, docs[0].ID)
}

// lookupMethods are the methods of an additional lookup URL: GET, when
// the item URL has it, and public when it is public there.
func lookupMethods(item, public []string) (methods, pub []string) {
	if slices.Contains(item, http.MethodGet) {
		methods = []string{http.MethodGet}
	}
	if slices.Contains(public, http.MethodGet) {
		pub = []string{http.MethodGet}
	}
	return methods, pub
}
