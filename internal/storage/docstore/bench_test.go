package docstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Run with: go test -run '^$' -bench . -benchtime 2000x ./internal/storage/docstore

// benchQuery is the API list scenario's query: where done=false, sorted by
// due, one page.
var benchQuery = docquery.Query{
	Filter: &docquery.Cond{Field: "done", Op: docquery.Eq, Value: false},
	Sort:   []docquery.SortKey{{Field: "due"}},
	Limit:  25, Offset: 50,
}

// BenchmarkBuildFind measures turning a query tree into SQL per dialect.
func BenchmarkBuildFind(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		b.Run(d, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := docstore.BuildFind(d, todos, "owner-1", benchQuery); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStore measures the API's store operations per backend on a
// collection of 20,000 documents, 2,000 of them the reader's.
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ss, err := sqlstore.Open(ctx, backend.DSN(b), sqlstore.Options{Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer ss.Close()
			s, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Ensure(ctx, todos); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UTC()
			var mine []string
			batch := make([]docstore.Document, 0, 1000)
			for i := range 20000 {
				owner := fmt.Sprintf("other-%d", i%100)
				if i%10 == 0 {
					owner = "owner-1"
				}
				id := fmt.Sprintf("doc-%06d", i)
				if owner == "owner-1" {
					mine = append(mine, id)
				}
				data := fmt.Sprintf(`{"title":"todo %d","done":%t,"due":"%s","prio":%d,"tags":["x"]}`,
					i, i%20 < 10, docquery.NormalizeTime(now.Add(time.Duration(i)*time.Minute)), i%5)
				batch = append(batch, doc(owner, id, data, now))
				if len(batch) == cap(batch) {
					if err := s.Insert(ctx, todos.Name, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}

			b.Run("Get", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := s.Get(ctx, todos.Name, "owner-1", mine[i%len(mine)]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("FindPage", func(b *testing.B) {
				for b.Loop() {
					docs, err := s.Find(ctx, todos.Name, "owner-1", benchQuery)
					if err != nil || len(docs) != 25 {
						b.Fatalf("%d docs, %v", len(docs), err)
					}
				}
			})
			b.Run("Count", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Count(ctx, todos.Name, "owner-1", benchQuery.Filter); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Insert", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					d := doc("owner-1", fmt.Sprintf("new-%d", i), fmt.Sprintf(`{"title":"new %d","done":false}`, i), now)
					if err := s.Insert(ctx, todos.Name, []docstore.Document{d}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkArrayOr measures a filter of 190 OR'd conditions on the array
// field tags, none of which matches, over 20,000 documents of one owner
// (and 2,000 of another): what a client that can write may send to hold a
// read connection. Each run Finds one page and Counts the matches. Run
// with: go test -run '^$' -bench ArrayOr -benchtime 20x ./internal/storage/docstore
func BenchmarkArrayOr(b *testing.B) {
	ctx := context.Background()
	or := make(docquery.Or, 190)
	for i := range or {
		or[i] = &docquery.Cond{Field: "tags", Op: docquery.Eq, Value: fmt.Sprintf("a%d", i+1)}
	}
	q := docquery.Query{Filter: or, Sort: []docquery.SortKey{{Field: "_updated", Desc: true}}, Limit: 25}
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ss, err := sqlstore.Open(ctx, backend.DSN(b), sqlstore.Options{Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer ss.Close()
			s, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Ensure(ctx, todos); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UTC()
			batch := make([]docstore.Document, 0, 1000)
			for i := range 22000 {
				owner := "attacker"
				if i%11 == 0 {
					owner = "other"
				}
				data := fmt.Sprintf(`{"title":"todo %d","tags":["b%d","c%d","x"]}`, i, i%500, i%7)
				batch = append(batch, doc(owner, fmt.Sprintf("doc-%06d", i), data, now.Add(time.Duration(i)*time.Millisecond)))
				if len(batch) == cap(batch) {
					if err := s.Insert(ctx, todos.Name, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			for b.Loop() {
				docs, err := s.Find(ctx, todos.Name, "attacker", q)
				if err != nil || len(docs) != 0 {
					b.Fatalf("%d docs, %v", len(docs), err)
				}
				n, err := s.Count(ctx, todos.Name, "attacker", or)
				if err != nil || n != 0 {
					b.Fatalf("count %d, %v", n, err)
				}
			}
		})
	}
}
