package docstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestBuiltinListPlans shows on each database that the lists of the
// built-in todos resource (internal/api/resource/default.yaml) filtering on
// done, as the API builds them — in the resource's default sort (-_updated)
// and sorted by due either way — read their page in the order of one of
// the resource's compound indexes (owner, done, the sort key…, id), with no
// sort step, and that their count reads an index on (owner, done…). The
// table is made before the compound indexes are declared: Ensure adds them
// to an existing database.
func TestBuiltinListPlans(t *testing.T) {
	set, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := set.ByURL("todos")
	if !ok {
		t.Fatal("no built-in todos resource")
	}
	coll := r.Collection()
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, ss := openStores(t, b, false)
			before := coll
			before.Indexes = nil
			if err := s.Ensure(ctx, before); err != nil {
				t.Fatalf("Ensure without compound indexes: %v", err)
			}
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			var batch []docstore.Document
			for i := range 1000 {
				due := docquery.NormalizeTime(base.Add(time.Duration(i%37) * 24 * time.Hour))
				batch = append(batch, doc(fmt.Sprintf("builtin-%d", i%10), fmt.Sprintf("b%04d", i),
					fmt.Sprintf(`{"title":"t%d","done":%v,"due":%q,"tags":["x"]}`, i, i%20 < 10, due), base.Add(time.Duration(i)*time.Second)))
			}
			if err := s.Insert(ctx, coll.Name, batch); err != nil {
				t.Fatal(err)
			}
			if err := s.Ensure(ctx, coll); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			conn := planConn(t, ss.DB(), ss.Dialect())
			tests := []struct {
				name, where, sort string
				count             bool
			}{
				{"default sort", `{"done":false}`, r.DefaultSort, false},
				{"default sort, done", `{"done":true}`, r.DefaultSort, false},
				{"due", `{"done":false}`, "due", false},
				{"due desc", `{"done":false}`, "-due", false},
				{"count", `{"done":false}`, "", true},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					filter, err := query.ParseWhere(tc.where, r)
					if err != nil {
						t.Fatal(err)
					}
					if tc.count {
						q, args, err := docstore.BuildCount(ss.Dialect(), coll, "builtin-3", filter)
						if err != nil {
							t.Fatal(err)
						}
						checkPlan(t, conn, ss.Dialect(), q, args, indexesOn(coll, "done", ""), false)
						return
					}
					sortKeys, err := query.ParseSort(tc.sort, r)
					if err != nil {
						t.Fatal(err)
					}
					index := indexesOn(coll, "done", sortKeys[0].Field)
					if len(index) == 0 {
						t.Fatalf("the built-in %s declares no compound index on (done, %s…), which where=%s&sort=%s needs to read one page in index order", coll.Name, sortKeys[0].Field, tc.where, tc.sort)
					}
					q, args, err := docstore.BuildFind(ss.Dialect(), coll, "builtin-3", docquery.Query{
						Filter: filter, Sort: sortKeys, Limit: r.Pagination.Default, Offset: r.Pagination.Default,
					})
					if err != nil {
						t.Fatal(err)
					}
					checkPlan(t, conn, ss.Dialect(), q, args, index, true)
				})
			}
		})
	}
}

// indexesOn names c's indexes whose first key is first and, if second is
// not "", whose second key is second: the compound indexes, and for a
// single key the field's own index.
func indexesOn(c docstore.Collection, first, second string) []string {
	var out []string
	if second == "" {
		out = append(out, "doc_"+c.Name+"_f_"+first)
	}
	for _, ix := range c.Indexes {
		if ix.Keys[0].Field == first && (second == "" || ix.Keys[1].Field == second) {
			out = append(out, "doc_"+c.Name+"_c_"+ix.Name)
		}
	}
	return out
}
