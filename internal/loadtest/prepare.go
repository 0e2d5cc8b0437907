package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// docSpec is what the list scenario needs in the store.
type docSpec struct {
	collection string
	owner      string // the load client's documents
	own        int
	total      int // all documents, the rest owned by others
}

// insertDocuments writes the documents straight through docstore, batch by
// batch, and returns up to keep IDs of the owner's documents. Half of them
// are done, their due dates spread over a year; other owners' documents
// are spread over 1,000 owners.
func insertDocuments(ctx context.Context, dsn string, res *resource.Set, spec docSpec, keep int) ([]string, error) {
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	docs, err := docstore.New(st.DB(), st.ReadDB(), st.Dialect())
	if err != nil {
		return nil, err
	}
	r, ok := res.ByURL(spec.collection)
	if !ok {
		return nil, fmt.Errorf("no resource %q", spec.collection)
	}
	if err := docs.Ensure(ctx, r.Collection()); err != nil {
		return nil, err
	}
	const batch = 5000
	base := time.Now().UTC().Add(-24 * time.Hour)
	var ids []string
	buf := make([]docstore.Document, 0, batch)
	// The owner's documents are interleaved with everyone else's, as a
	// shared table would hold them.
	stride := max(spec.total/max(spec.own, 1), 1)
	own := 0
	for i := range spec.total {
		owner, n := "other-"+strconv.Itoa(i%1000), i
		if i%stride == 0 && own < spec.own {
			owner, n = spec.owner, own
			own++
		}
		due := base.Add(time.Duration(n%365) * 24 * time.Hour).Format(time.RFC3339)
		data := `{"title":"todo ` + strconv.Itoa(n) + `","done":` + strconv.FormatBool(n%2 == 1) + `,"due":"` + due + `","tags":["load"]}`
		at := base.Add(time.Duration(i) * time.Millisecond)
		d := docstore.Document{ID: docstore.NewID(), Owner: owner, Created: at, Updated: at, ETag: docstore.NewETag(), Data: []byte(data)}
		if owner == spec.owner && len(ids) < keep {
			ids = append(ids, d.ID)
		}
		buf = append(buf, d)
		if len(buf) == batch {
			if err := docs.Insert(ctx, r.Name, buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := docs.Insert(ctx, r.Name, buf); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertExpiredTokens writes n grants, each with a refresh token, and n
// revoked access-token IDs, all expired an hour ago: the rows the janitor
// has to remove.
func insertExpiredTokens(ctx context.Context, dsn string, n int) error {
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return gatehouseproc.InsertTokenRows(ctx, st.DB(), st.Dialect(), gatehouseproc.TokenRows{
		Prefix: "expired", N: n, ClientID: "load-history", UserID: "load-history", Audience: "load",
		Expires: time.Now().Add(-time.Hour),
	})
}
